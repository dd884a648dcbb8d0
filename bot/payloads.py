"""Callback payloads: validated client input, never trusted.

Keys are short because VK limits a payload to 255 characters. Authorisation against the roster
happens after validation, every time, in the flow.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bot.domain import Role, StepState

_ID = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._-]+$")


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    c: Annotated[str, _ID]  # campaign id


class OpenCardPayload(_Payload):
    a: Literal["card"] = "card"
    sc: Annotated[str, Field(max_length=64)] = ""  # school id; empty: the person's school


class AcknowledgePayload(_Payload):
    a: Literal["ack"] = "ack"


class OpenStepPayload(_Payload):
    a: Literal["step"] = "step"
    sc: Annotated[str, Field(min_length=1, max_length=64)]
    s: Annotated[str, Field(min_length=1, max_length=16)]


class AnswerPayload(_Payload):
    a: Literal["ans"] = "ans"
    sc: Annotated[str, Field(min_length=1, max_length=64)]
    s: Annotated[str, Field(min_length=1, max_length=16)]
    st: Literal[StepState.DONE, StepState.IN_PROGRESS, StepState.PROBLEM]


class RolePayload(_Payload):
    """«Я руководитель» / «Я заместитель» after a registration code; the school is ours."""

    a: Literal["role"] = "role"
    r: Literal[Role.HEAD, Role.DEPUTY]


class KeptAnswerPayload(_Payload):
    """The school a typed answer is for, from a person who answers for several; the answer
    waits in storage until this is pressed."""

    a: Literal["kept"] = "kept"
    sc: Annotated[str, Field(min_length=1, max_length=64)]


class KeptOrderPayload(_Payload):
    """The order (`c`) a typed answer is for, when its step is in several open orders; the
    answer waits in storage until this is pressed."""

    a: Literal["korder"] = "korder"


class MyCardPayload(_Payload):
    """A staff member's own items of the order (its staff steps)."""

    a: Literal["mycard"] = "mycard"


class MyStepPayload(_Payload):
    a: Literal["mystep"] = "mystep"
    s: Annotated[str, Field(min_length=1, max_length=16)]


class MyAnswerPayload(_Payload):
    """A staff member's answer to one of their own items."""

    a: Literal["myans"] = "myans"
    s: Annotated[str, Field(min_length=1, max_length=16)]
    st: Literal[StepState.DONE, StepState.IN_PROGRESS, StepState.PROBLEM]


Payload = (
    OpenCardPayload
    | AcknowledgePayload
    | OpenStepPayload
    | AnswerPayload
    | RolePayload
    | KeptAnswerPayload
    | KeptOrderPayload
    | MyCardPayload
    | MyStepPayload
    | MyAnswerPayload
)

_ADAPTER: TypeAdapter[Payload] = TypeAdapter(Annotated[Payload, Field(discriminator="a")])

MAX_PAYLOAD_LENGTH = 255


def encode(payload: Payload) -> str:
    text = payload.model_dump_json()
    if len(text) > MAX_PAYLOAD_LENGTH:
        raise ValueError(f"payload over {MAX_PAYLOAD_LENGTH} characters: {text[:60]}...")
    return text


def decode(raw: Any) -> Payload | None:
    """A payload from VK: a JSON string (message_new) or an object (message_event)."""
    if raw is None:
        return None
    try:
        if isinstance(raw, str):
            if len(raw) > MAX_PAYLOAD_LENGTH:
                return None
            raw = json.loads(raw)
        return _ADAPTER.validate_python(raw)
    except (ValidationError, ValueError, TypeError, RecursionError):
        return None
