// Card payment page: confirms the invoice's PaymentIntent with Stripe.js when the page has
// loaded it (window.Stripe). The invoice is marked paid only by the verified webhook.
(function () {
  "use strict";
  var box = document.getElementById("card-payment");
  if (!box || typeof window.Stripe !== "function") { return; }
  var key = box.dataset.publishableKey, secret = box.dataset.clientSecret;
  if (!key || !secret) { return; }
  var stripe = window.Stripe(key);
  var elements = stripe.elements({ clientSecret: secret });
  var payment = elements.create("payment");
  payment.mount("#card-element");
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = box.dataset.payLabel || "Pay";
  box.appendChild(button);
  button.addEventListener("click", function () {
    button.disabled = true;
    stripe.confirmPayment({ elements: elements, confirmParams: { return_url: box.dataset.returnUrl } })
      .then(function (result) {
        if (result.error) { button.disabled = false; box.setAttribute("data-error", result.error.message); }
      });
  });
}());
