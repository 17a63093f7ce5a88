from typing import Any


def mount(app: Any, settings: Any) -> None:
    return None
