# JupyterLab behind the opslake gateway: read by the native stack (copied into JUPYTER_CONFIG_DIR by
# `opslake stack up`, src/opslake/stack/jupyter.py) and by docker-compose (mounted into /etc/jupyter).
#
# The server answers under the gateway's prefix, so paths pass through the gateway unchanged. Its token
# comes from JUPYTER_TOKEN (the environment, never a command line) and is known only to the gateway,
# which sends `Authorization: token <t>` on every request it forwards, WebSocket handshakes included.
# The listen address is given on the command line: 127.0.0.1 natively, 0.0.0.0 inside a container whose
# port is published on the host's loopback only.
import os

c = get_config()  # type: ignore[name-defined]  # noqa: F821 (injected by traitlets)

if not os.environ.get("JUPYTER_TOKEN"):
    # Without it Jupyter would generate one and print it in a URL: refuse instead.
    raise SystemExit("JUPYTER_TOKEN is not set (the stack's secrets file holds it)")

c.ServerApp.base_url = "/datalake/jupyter/"
c.ServerApp.port = 8888
c.ServerApp.port_retries = 0  # another port would be one the gateway does not know
c.ServerApp.open_browser = False
c.ServerApp.quit_button = False  # stopping is the stack's job
# The stack's processes run as whoever runs `opslake stack up` (root in the CI and compose
# containers); Jupyter refuses root unless told, and this server is loopback-only behind the token.
c.ServerApp.allow_root = True
# The gateway is the edge: X-Forwarded-For/-Proto describe the client.
c.ServerApp.trust_xheaders = True
# The gateway forwards the browser's Host (the gateway's own name), which is not a loopback name
# when the gateway is reached from elsewhere. Jupyter's Host check protects a loopback server that a
# browser reaches directly (DNS rebinding); this one is reachable only on loopback and only with the
# token no browser has, so the check would only refuse the gateway. It does not change the bind address.
c.ServerApp.allow_remote_access = True
_origin = os.environ.get("OPSLAKE_GATEWAY_PUBLIC_ORIGIN", "").rstrip("/")
if _origin:  # another proxy terminates TLS: the browser's Origin is that one, not the Host we see
    c.ServerApp.allow_origin = _origin
if os.environ.get("OPSLAKE_JUPYTER_ROOT_DIR"):
    c.ServerApp.root_dir = os.environ["OPSLAKE_JUPYTER_ROOT_DIR"]


# The news prompt ("get notified about official Jupyter news?") would ask to fetch from the internet.
_DISABLED_PLUGINS = ["@jupyterlab/apputils-extension:announcements"]


def _without_token(handler: object, page_config: dict[str, object]) -> dict[str, object]:
    """JupyterLab writes the server token into every page it serves: a browser must never see it.

    The frontend then sends no credential of its own; the gateway adds the token to each request.
    """
    disabled = page_config.get("disabledExtensions")
    listed = list(disabled) if isinstance(disabled, list) else []
    return {**page_config, "token": "", "disabledExtensions": [*listed, *_DISABLED_PLUGINS]}


c.ServerApp.tornado_settings = {"page_config_hook": _without_token}

# No calls to the internet (news feed, update checks): the machines running this are offline.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
