"""``ConfigRegistry``: the JSON model configs of one model package, shipped ones and a user's own.

Each model package (``retrieval``, ``captioner``) builds one registry over its ``model_configs/`` folder and
exposes ``list_models``, ``get_model_config``, ``add_model_config`` and ``get_recipe`` on top of it. A config is a
JSON object; its optional ``"recipe"`` section is the training recipe the glue uses unless a caller overrides it
(open_clip keeps architecture in its JSON configs; here the recipe travels with the architecture it was tuned for).

``add_model_config(path_or_dir)`` (as open_clip's) registers a user's ``*.json`` files under their stems. It is the
one piece of process state of the libraries: the registry remembers the added *paths* (never their contents: every
look-up reads the file again, so an edited file is seen at once). A user file is validated when added, by the
package's own config builder, so a bad config fails there with the file named, not later inside ``create_model``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["ConfigRegistry"]

RECIPE_KEY = "recipe"


class ConfigRegistry:
    """The model configs of one package: ``<package>/<folder>/*.json`` plus the files added by a user.

    Args:
        package: The package whose data folder holds the shipped configs (``"retrieval"``, ``"captioner"``).
        kind: What the configs describe, for messages (``"retriever"``, ``"captioner"``).
        validate: Called as ``validate(data, name)`` with a file's parsed JSON object; raises ``ValueError`` (or
            ``TypeError``) when the object is not a valid config of the package (e.g. its ``config_from_dict``).
        folder: The data folder inside ``package``.
    """

    def __init__(
        self, package: str, *, kind: str, validate: Callable[[dict[str, Any], str], Any], folder: str = "model_configs"
    ) -> None:
        self.package = package
        self.kind = kind
        self.folder = folder
        self._validate = validate
        self._added: dict[str, Path] = {}  # name -> a user's JSON file (add_model_config)

    def _shipped(self) -> dict[str, Any]:
        root = resources.files(self.package).joinpath(self.folder)
        return {p.name[: -len(".json")]: p for p in root.iterdir() if p.name.endswith(".json")}

    def list_models(self) -> list[str]:
        """Names of the registered configs, shipped and added, sorted."""
        return sorted({*self._shipped(), *self._added})

    def source(self, name: str) -> str:
        """Where the config ``name`` is read from (a path), for messages.

        Raises:
            ValueError: ``name`` is not registered.
        """
        return str(self._file(name))

    def _file(self, name: str) -> Any:
        if name in self._added:
            return self._added[name]
        shipped = self._shipped()
        if name not in shipped:
            raise ValueError(
                f"unknown {self.kind} config {name!r}; registered configs: {self.list_models()} "
                f"(add your own JSON config with {self.package}.add_model_config(path))"
            )
        return shipped[name]

    def get(self, name: str) -> dict[str, Any]:
        """The parsed JSON object registered as ``name`` (a fresh dict on every call; the file is read again).

        Raises:
            ValueError: ``name`` is not registered, or its file is not a JSON object.
            FileNotFoundError: An added file was deleted since.
        """
        return _read_object(self._file(name), self.kind)

    def recipe(self, name: str) -> dict[str, Any]:
        """The ``"recipe"`` section of config ``name`` (``{}`` when it has none)."""
        return dict(self.get(name).get(RECIPE_KEY) or {})

    def add_model_config(self, path_or_dir: str | Path) -> list[str]:
        """Register a user's JSON config file, or every ``*.json`` file of a folder, under the file's stem.

        Every file is parsed and validated first; nothing is registered when one of them fails. Adding a file
        again is a no-op; a name that is already registered from another file (a shipped config or another added
        file) is refused, so a name always means one config.

        Returns:
            The names registered by this call's files, sorted.

        Raises:
            FileNotFoundError: ``path_or_dir`` does not exist, or a folder holds no ``*.json`` file.
            ValueError: A file is not valid JSON, not an object, not a valid config (the message names the file and
                the reason), or its name is taken.
        """
        path = Path(path_or_dir).expanduser()
        if path.is_dir():
            files = sorted(path.glob("*.json"))
            if not files:
                raise FileNotFoundError(f"no *.json {self.kind} config in {path}")
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"{self.kind} config {path} does not exist")
        shipped = self._shipped()
        found: dict[str, Path] = {}
        for file in files:
            name = file.stem
            file = file.resolve()
            taken = str(shipped[name]) if name in shipped else self._added.get(name)
            if (taken is not None and Path(taken) != file) or name in found:
                raise ValueError(
                    f"{self.kind} config name {name!r} ({file}) is already registered from "
                    f"{taken or found[name]}; rename the file"
                )
            data = _read_object(file, self.kind)
            try:
                self._validate(data, name)
            except (TypeError, ValueError) as e:  # a builder's TypeError: a field of the wrong JSON type
                raise ValueError(f"{self.kind} config {file} is not valid: {e}") from e
            found[name] = file
        self._added.update(found)
        return sorted(found)

    def remove_model_config(self, path_or_dir: str | Path) -> list[str]:
        """Unregister the files that ``add_model_config(path_or_dir)`` registered; returns their names, sorted."""
        path = Path(path_or_dir).expanduser().resolve()
        names = [n for n, f in self._added.items() if f == path or f.parent == path]
        for name in names:
            del self._added[name]
        return sorted(names)


def _read_object(file: Any, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{kind} config {file} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{kind} config {file} must hold a JSON object, got {type(data).__name__}")
    return data
