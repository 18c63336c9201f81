"""JupyterLab as a native service of the stack, behind the gateway at ``/datalake/jupyter/``.

It runs from this interpreter's environment (the project's venv), so its ``python3`` kernel imports
``opslake`` and reads the stack's settings like every other process of the stack. Its configuration
is ``deploy/jupyter/jupyter_server_config.py`` (the file docker-compose mounts); everything Jupyter
writes (runtime files, settings, workspaces, IPython history, the matplotlib cache) stays under
``<stack_dir>/jupyter``, nothing goes to the home directory.

The notebooks it serves are a working copy of the shipped ``notebooks/`` under
``<stack_dir>/jupyter/notebooks``: running them (outputs, autosaves, checkpoints) never dirties the
source tree, whose notebooks are stored without outputs. Each start refreshes the copies nobody has
edited and leaves edited ones alone (:func:`sync_notebooks`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from opslake.config import Settings, data_path
from opslake.exceptions import ServiceUnavailableError
from opslake.stack.service import Launch, Service

PORT = 8888
BASE_URL = "/datalake/jupyter/"
CONFIG_FILE = "jupyter_server_config.py"
_MANIFEST = ".shipped.json"  # name -> sha256 of the copy last written from notebooks/


def jupyter_home(settings: Settings) -> Path:
    return settings.stack_dir.resolve() / "jupyter"


def notebooks_dir(settings: Settings) -> Path:
    """The folder JupyterLab serves: the working copy of the shipped notebooks."""
    return jupyter_home(settings) / "notebooks"


def api_url(settings: Settings) -> str:
    """Base URL of the server on loopback, prefix included (``.../api/status``, ``.../lab``)."""
    return f"http://127.0.0.1:{PORT}{BASE_URL}"


def _token(settings: Settings) -> str:
    token = settings.gateway_jupyter_token.get_secret_value()
    if not token:
        raise ServiceUnavailableError(
            "jupyter", "no generated token in the secrets file: run `opslake stack up`"
        )
    return token


def jupyter_env(settings: Settings) -> dict[str, str]:
    """Environment of the server, and so of every kernel it starts.

    Raises:
        ServiceUnavailableError: the secrets file lacks the Jupyter token (run ``opslake stack up``).
    """
    home = jupyter_home(settings)
    return {
        "JUPYTER_TOKEN": _token(settings),  # read by jupyter_server's IdentityProvider
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLCONFIGDIR": str(home / "matplotlib"),
        "OPSLAKE_JUPYTER_ROOT_DIR": str(notebooks_dir(settings)),
        "OPSLAKE_GATEWAY_PUBLIC_ORIGIN": settings.gateway_public_origin,
        # The kernels' opslake settings: this stack's profile and state, whatever the kernel's cwd.
        "OPSLAKE_PROFILE": settings.profile,
        "OPSLAKE_STACK_DIR": str(settings.stack_dir.resolve()),
        "OPSLAKE_HOME": str(settings.home.resolve()),
        "OPSLAKE_OUT_DIR": str(settings.out_dir.resolve()),
        "OPSLAKE_CACHE_DIR": str(settings.cache_dir.resolve()),
        "PYTHONUNBUFFERED": "1",
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sync_notebooks(source: Path, target: Path) -> list[str]:
    """Copy the shipped notebooks into the working copy; returns the names written.

    A notebook is (re)written when the working copy lacks it, or when its copy is still exactly what
    was last shipped (nobody edited it) and the shipped one changed. An edited copy is kept: delete it
    to get the shipped version back.
    """
    target.mkdir(parents=True, exist_ok=True)
    manifest_path = target / _MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    written = []
    for notebook in sorted(source.glob("*.ipynb")):
        copy = target / notebook.name
        shipped = _sha256(notebook)
        untouched = copy.exists() and manifest.get(notebook.name) == _sha256(copy)
        if not copy.exists() or (untouched and shipped != manifest.get(notebook.name)):
            shutil.copyfile(notebook, copy)
            manifest[notebook.name] = shipped
            written.append(notebook.name)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return written


def jupyterlab_bin() -> Path:
    """The ``jupyter-lab`` command of this interpreter's environment (the project's venv)."""
    return Path(sys.executable).parent / "jupyter-lab"


def _prepare(settings: Settings) -> Launch:
    binary = jupyterlab_bin()
    if not binary.exists():
        raise ServiceUnavailableError(
            "jupyter", f"{binary} is missing: install the extra, pip install -e '.[jupyter]'"
        )
    env = jupyter_env(settings)
    for key in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        data_path("deploy", "jupyter", CONFIG_FILE), Path(env["JUPYTER_CONFIG_DIR"]) / CONFIG_FILE
    )
    sync_notebooks(data_path("notebooks"), notebooks_dir(settings))
    # Loopback only: the gateway is the one door. The rest is in the config file.
    argv = [str(binary), "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={PORT}"]
    return Launch(argv, env)


def status(settings: Settings, token: str | None = None) -> int | None:
    """HTTP status of ``GET .../api/status`` with ``token`` (the stack's when None; "" sends none).

    None when nothing answers.
    """
    request = urllib.request.Request(f"{api_url(settings)}api/status")
    secret = settings.gateway_jupyter_token.get_secret_value() if token is None else token
    if secret:
        request.add_header("Authorization", f"token {secret}")
    try:
        with urllib.request.urlopen(request, timeout=2.0) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _healthy(settings: Settings) -> bool:
    return status(settings) == 200


JUPYTER = Service("jupyter", (PORT,), 90, _prepare, _healthy)
