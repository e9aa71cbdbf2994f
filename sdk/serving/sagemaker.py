"""SageMaker's container contract: which model ``POST /invocations`` runs, since its path names none."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from sdk.errors import InvalidInput

TARGET_MODEL_HEADER = "x-amzn-sagemaker-target-model"
CUSTOM_ATTRIBUTES_HEADER = "x-amzn-sagemaker-custom-attributes"


def target_model(
    headers: Mapping[str, str], default_model: str | None, names: Callable[[], Sequence[str]]
) -> dict[str, str]:
    """The model (``name``, and ``version`` when given) that /invocations runs: the target-model header, a
    ``model=`` custom attribute, the server's default model, else the only model served (``names()``)."""
    target = headers.get(TARGET_MODEL_HEADER, "").strip()
    if not target:
        attributes = dict(
            part.strip().partition("=")[::2]
            for part in re.split(r"[,;]", headers.get(CUSTOM_ATTRIBUTES_HEADER, ""))
            if "=" in part
        )
        target = attributes.get("model", "").strip()
    target = target.removesuffix(".tar.gz") or (default_model or "")
    if not target:
        served = list(names())
        if len(served) != 1:
            raise InvalidInput(
                f"this endpoint serves {len(served)} models ({', '.join(served)}); name one with the "
                "X-Amzn-SageMaker-Target-Model header or the custom attribute model=NAME"
            )
        target = served[0]
    name, _, version = target.partition("@")
    return {"name": name, "version": version} if version else {"name": name}
