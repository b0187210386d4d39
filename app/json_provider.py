"""JSON responses through orjson.

Encoding with the standard library was a tenth of a pool search's CPU and more of the
obligations API's (0.45 ms for its 12 kB answer; orjson takes 0.035 ms). Keys stay sorted and
the output compact, as Flask's own provider writes them; text is UTF-8 rather than \\u
escapes, dates are ISO 8601 (the API's schemas send strings anyway). Whatever orjson cannot
encode (an integer beyond 64 bits, say) goes through Flask's provider, so nothing that worked
before fails. Request bodies are still parsed by the standard library, which reports the
same errors as before.
"""

from __future__ import annotations

import decimal
from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # indent, separators...: what only the standard library offers
            return super().dumps(obj, **kwargs)
        return self._encode(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        if self._app.debug:
            return super().response(obj)  # indented, for a developer reading it
        return self._app.response_class(self._encode(obj, orjson.OPT_APPEND_NEWLINE),
                                        mimetype=self.mimetype)

    def _encode(self, obj: Any, options: int = 0) -> bytes:
        try:
            return orjson.dumps(obj, default=_default, option=_OPTIONS | options)
        except orjson.JSONEncodeError:
            text = super().dumps(obj, separators=(",", ":"))
            return (text + "\n" if options & orjson.OPT_APPEND_NEWLINE else text).encode()
