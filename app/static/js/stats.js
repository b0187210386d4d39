// Statistics page: choosing a province shows it at once (the Show button does the same without JS).
document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
  select.addEventListener("change", function () {
    select.form.submit();
  });
});
