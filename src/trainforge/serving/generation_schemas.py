"""Bodies of the generation routes: `POST /v1/generate` and the OpenAI-compatible
`POST /v1/chat/completions` (and `GET /v1/models`).

The chat route takes what the official `openai` client sends for a chat completion; fields it
cannot honour (n > 1, tools, log-probabilities, a JSON response format) are refused with a 422
naming them rather than silently ignored. Unknown fields are refused as everywhere else.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Stop = str | list[str] | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Decoding(_Body):
    """Decoding options a request may set; absent ones are the package's `generation:` ones."""

    max_tokens: int | None = Field(
        default=None, ge=1, description="Tokens generated at most (at most --max-new-tokens)."
    )
    temperature: float | None = Field(
        default=None, ge=0.0, le=2.0, description="0: greedy; above 0: sampling."
    )
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, description="Nucleus mass kept.")
    stop: Stop = Field(
        default=None, description="A string, or up to 4, that end the answer (not included)."
    )
    seed: int | None = Field(default=None, description="Seed of sampling.")
    stream: bool = Field(default=False, description="Answer as server-sent events.")

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, value: Stop) -> Stop:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > 4 or any(not s for s in stops):
            raise ValueError("give at most 4 stop strings, none empty")
        return value

    def options(self, max_tokens: int | None = None) -> dict[str, Any]:
        """The options to pass to `GenerationModel.complete` (the set ones only)."""
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        chosen = {
            "max_new_tokens": max_tokens if max_tokens is not None else self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": stop,
            "seed": self.seed,
        }
        return {key: value for key, value in chosen.items() if value is not None}


class GenerateRequest(Decoding):
    """Prompts (each the user's turn) to answer."""

    prompt: str | list[str] = Field(
        description="A prompt, or a list of them (answered in order; not with `stream`).",
        examples=["How do I reset my card PIN?"],
    )


class Completion(BaseModel):
    """One generated answer."""

    text: str
    finish_reason: Literal["stop", "length"] = Field(
        description="'stop': end of the answer or a stop string; 'length': max_tokens reached."
    )
    prompt_tokens: int
    completion_tokens: int


class GenerateResponse(BaseModel):
    """One completion per prompt, in order."""

    completions: list[Completion]
    model_version: str


class ContentPart(_Body):
    """A part of a message's content; only text parts are read."""

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One turn: system (or developer), user or assistant."""

    model_config = ConfigDict(extra="forbid")

    role: str
    content: str | list[ContentPart]
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Body):
    include_usage: bool = False


class ChatRequest(Decoding):
    """An OpenAI chat-completions request (the fields the official client sends)."""

    model: str | None = Field(default=None, description="Any name: the served model answers.")
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1, description="= max_tokens.")
    n: int = Field(default=1, description="Answers per request: 1 only.")
    stream_options: StreamOptions | None = None
    frequency_penalty: float | None = Field(default=None, description="Not offered: 0 only.")
    presence_penalty: float | None = Field(default=None, description="Not offered: 0 only.")
    logprobs: bool | None = Field(default=None, description="Not offered: false only.")
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None

    @field_validator("n")
    @classmethod
    def _one_answer(cls, value: int) -> int:
        if value != 1:
            raise ValueError("this server writes one answer per request; send n: 1")
        return value

    @field_validator("frequency_penalty", "presence_penalty")
    @classmethod
    def _no_penalty(cls, value: float | None) -> float | None:
        if value:
            raise ValueError("repetition penalties are not offered; leave them out or send 0")
        return value

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("log-probabilities are not offered; leave out logprobs")
        return value

    def limit(self) -> int | None:
        """max_completion_tokens, or the older max_tokens."""
        return self.max_completion_tokens or self.max_tokens


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatCompletion(BaseModel):
    """An OpenAI `chat.completion` object."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str = Field(description="The model version that answered.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "trainforge"


class ModelList(BaseModel):
    """The served model, as OpenAI's `GET /v1/models` lists models."""

    object: Literal["list"] = "list"
    data: list[ModelCard]
