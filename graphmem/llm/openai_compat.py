"""The one HTTP chat client: any OpenAI-compatible /chat/completions endpoint, through the
official `openai` SDK (its retries honour Retry-After on 429 and 5xx)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import openai
from pydantic import BaseModel

from graphmem.errors import LLMError
from graphmem.llm.base import ChatBackend, ChatResult, ChatStream, Message, estimate_tokens

if TYPE_CHECKING:
    from graphmem.settings import Settings

log = logging.getLogger(__name__)

# Output constraints, strongest first; a server that rejects one is asked with the next.
_FORMATS = ("json_schema", "json_object", "none")


class OpenAICompatibleBackend(ChatBackend):
    """Chat completions as served by OpenAI, vLLM, llama.cpp, Ollama, LM Studio.

    The LLM extractor asks it for JSON (structured output against a pydantic schema when one
    is given, else JSON mode), chat and the benchmarks for free text. Network errors, 429 and
    5xx are retried transport_retries times by the SDK; anything else raises LLMError, so a
    failed request is never mistaken for an empty answer. A server that rejects a
    response_format with a 400 is asked again with the next weaker one (schema, JSON mode,
    none), and this instance remembers what the server accepts.

    json_mode, temperature and max_tokens are defaults for every request, and each call to
    complete() may override them. max_tokens=None leaves the length to the server.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 timeout_s: float = 60.0, transport_retries: int = 2,
                 json_mode: bool = True, temperature: float = 0.0,
                 max_tokens: int | None = None) -> None:
        self.model = model
        self.json_mode = json_mode
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._retries = max(0, transport_retries)
        self._client = openai.OpenAI(base_url=base_url.rstrip("/"),
                                     api_key=api_key or "not-needed",
                                     timeout=timeout_s, max_retries=self._retries)
        self._weakest_accepted = 0  # index into _FORMATS the server has not rejected

    @classmethod
    def from_settings(cls, settings: Settings, *, json_mode: bool = True,
                      temperature: float = 0.0,
                      max_tokens: int | None = None) -> OpenAICompatibleBackend:
        """The endpoint of llm_base_url, llm_model, llm_api_key, llm_timeout_s and
        llm_max_retries; LLMError when the URL or the model is missing."""
        if not settings.llm_base_url or not settings.llm_model:
            raise LLMError("the OpenAI-compatible backend needs GRAPHMEM_LLM_BASE_URL "
                           "and GRAPHMEM_LLM_MODEL")
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(settings.llm_base_url, settings.llm_model, api_key=key,
                   timeout_s=settings.llm_timeout_s, transport_retries=settings.llm_max_retries,
                   json_mode=json_mode, temperature=temperature, max_tokens=max_tokens)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatibleBackend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def complete(self, messages: Sequence[Message], *, json_mode: bool | None = None,
                 temperature: float | None = None, max_tokens: int | None = None,
                 schema: type[BaseModel] | None = None) -> ChatResult:
        """One completion; the keyword arguments override this instance's defaults. With
        `schema` (and JSON wanted) the server is asked for output matching it."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self.temperature if temperature is None else temperature,
        }
        limit = max_tokens or self.max_tokens
        if limit:
            body["max_tokens"] = limit
        wants_json = self.json_mode if json_mode is None else json_mode
        level = max(self._weakest_accepted, 0 if schema is not None else 1) if wants_json \
            else len(_FORMATS) - 1
        create: Any = self._client.chat.completions.create  # typed per model name: too narrow
        while True:
            fmt = _response_format(_FORMATS[level], schema)
            try:
                response = create(**body, **({"response_format": fmt} if fmt else {}))
                break
            except openai.BadRequestError as err:
                if fmt is None or "response_format" not in err.response.text or \
                        level == len(_FORMATS) - 1:
                    raise self._status_error(err) from err
                level += 1
                self._weakest_accepted = max(self._weakest_accepted, level)
                log.info("%s rejected response_format %s; asking with %s", self._url,
                         _FORMATS[level - 1], _FORMATS[level])
            except openai.APIStatusError as err:
                raise self._status_error(err) from err
            except openai.APIConnectionError as err:
                raise LLMError(f"LLM endpoint {self._url} unreachable after "
                               f"{self._retries + 1} attempt(s): {err}") from err
        return self._result(response, messages)

    def stream(self, messages: Sequence[Message], *, temperature: float | None = None,
               max_tokens: int | None = None) -> ChatStream:
        """Free text as the server streams it (server-sent events), then the ChatResult with
        the time to the first text piece. Token counts come from the server's usage chunk
        (stream_options.include_usage); a server that rejects that option is asked without
        it, and the counts are then estimated."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self.temperature if temperature is None else temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        limit = max_tokens or self.max_tokens
        if limit:
            body["max_tokens"] = limit
        create: Any = self._client.chat.completions.create
        started = time.perf_counter()
        try:
            try:
                chunks = create(**body)
            except openai.BadRequestError as err:
                if "stream_options" not in err.response.text:
                    raise
                del body["stream_options"]
                chunks = create(**body)
            pieces: list[str] = []
            ttft_ms: float | None = None
            usage: Any = None
            with chunks:
                for chunk in chunks:
                    usage = getattr(chunk, "usage", None) or usage
                    piece = _delta_text(chunk)
                    if piece:
                        if ttft_ms is None:
                            ttft_ms = (time.perf_counter() - started) * 1000.0
                        pieces.append(piece)
                        yield piece
        except openai.APIStatusError as err:
            raise self._status_error(err) from err
        except openai.APIConnectionError as err:
            raise LLMError(f"LLM endpoint {self._url} unreachable after "
                           f"{self._retries + 1} attempt(s): {err}") from err
        except openai.APIError as err:  # e.g. an error event or a cut stream
            raise LLMError(f"LLM endpoint {self._url} broke off its stream: {err}") from err
        text = "".join(pieces)
        tokens_in, tokens_out = _counts(usage, messages, text)
        yield ChatResult(text, tokens_in, tokens_out, ttft_ms)

    def _status_error(self, err: openai.APIStatusError) -> LLMError:
        return LLMError(f"LLM endpoint {self._url} answered {err.status_code}: "
                        f"{err.response.text[:300]}")

    def _result(self, response: Any, messages: Sequence[Message]) -> ChatResult:
        try:
            text = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError) as err:
            raise LLMError(f"LLM endpoint {self._url} returned no chat completion: "
                           f"{str(response)[:300]}") from err
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise LLMError(f"LLM endpoint {self._url} returned non-text content")
        tokens_in, tokens_out = _counts(getattr(response, "usage", None), messages, text)
        return ChatResult(text, tokens_in, tokens_out)


def _counts(usage: Any, messages: Sequence[Message], text: str) -> tuple[int, int]:
    """(prompt, completion) tokens as the server reported them, else estimated."""
    tokens_in = getattr(usage, "prompt_tokens", None)
    tokens_out = getattr(usage, "completion_tokens", None)
    if not isinstance(tokens_in, int):
        tokens_in = sum(estimate_tokens(m["content"]) for m in messages)
    if not isinstance(tokens_out, int):
        tokens_out = estimate_tokens(text)
    return tokens_in, tokens_out


def _delta_text(chunk: Any) -> str:
    """The text a streamed chunk adds (the usage chunk has no choices)."""
    choices = getattr(chunk, "choices", None) or []
    content = getattr(getattr(choices[0], "delta", None), "content", None) if choices else None
    return content if isinstance(content, str) else ""


def _response_format(kind: str, schema: type[BaseModel] | None) -> dict[str, Any] | None:
    if kind == "json_schema" and schema is not None:
        return {"type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()}}
    if kind in ("json_schema", "json_object"):
        return {"type": "json_object"}
    return None
