"""SvgView: a graphviz drawing in the page that tells the kernel which node was clicked.

ipywidgets' ``HTML`` shows an SVG but runs no script and reports no click, so this one view
is an `anywidget <https://anywidget.dev>`_: a few lines of JavaScript (:data:`ESM`) that put
:attr:`SvgView.value` into the page and, when a node is clicked, set :attr:`SvgView.selected`
- a synced trait, so the kernel sees the click as an ordinary trait change (and a test can
make the same change without a browser).

graphviz draws each node as ``<g id="…" class="node"><title>name</title>…</g>``: the id is
the one the diagram gave the node (``plugin-<uri>`` in the plugin graph: ``id_prefix`` is cut
off), else the ``<title>`` holds the node's name. :func:`node_names` reads the same thing
in Python.

>>> node_names('<g id="plugin-io.containerd.content.v1.content" class="node"><title>x</title></g>'
...            '<g id="edge1" class="edge"><title>a&#45;&gt;b</title></g>', "plugin-")
['io.containerd.content.v1.content']
"""
from __future__ import annotations

import html
import re

import anywidget
import traitlets

__all__ = ["CSS", "ESM", "SvgView", "node_names"]

#: The view: draw the SVG, mark the selected node, report clicks on nodes.
ESM = """
function nameOf(g, prefix) {
  const id = g.getAttribute("id") || "";
  if (prefix && id.startsWith(prefix)) return id.slice(prefix.length);
  const title = g.querySelector(":scope > title");
  return title ? title.textContent : "";
}

function render({ model, el }) {
  el.classList.add("pyctrd-svg-view");
  const mark = () => {
    const picked = model.get("selected");
    for (const g of el.querySelectorAll("g.node")) {
      g.classList.toggle("pyctrd-selected", nameOf(g, model.get("id_prefix")) === picked);
    }
  };
  const draw = () => { el.innerHTML = model.get("value"); mark(); };
  const click = (event) => {
    const g = event.target.closest("g.node");
    if (!g || !el.contains(g)) return;
    const name = nameOf(g, model.get("id_prefix"));
    if (!name) return;
    model.set("selected", name);
    model.save_changes();
  };
  el.addEventListener("click", click);
  model.on("change:value", draw);
  model.on("change:selected", mark);
  draw();
  return () => {
    el.removeEventListener("click", click);
    model.off("change:value", draw);
    model.off("change:selected", mark);
  };
}

export default { render };
"""

#: Nodes look clickable; the selected one gets a halo (the SVG's own highlight stays).
CSS = """
.pyctrd-svg-view g.node { cursor: pointer; }
.pyctrd-svg-view g.node:hover > :is(polygon, ellipse, path) { stroke-width: 2.5; }
.pyctrd-svg-view g.node.pyctrd-selected > :is(polygon, ellipse, path) { filter: drop-shadow(0 0 3px #1565c0); }
"""

_NODE = re.compile(r'<g id="([^"]*)" class="node">\s*<title>([^<]*)</title>')


def node_names(svg: str, id_prefix: str = "") -> list[str]:
    """The names a click on each node of ``svg`` reports, in drawing order (as :data:`ESM` finds them)."""
    out = []
    for gid, title in _NODE.findall(svg):
        gid = html.unescape(gid)
        out.append(gid[len(id_prefix):] if id_prefix and gid.startswith(id_prefix) else html.unescape(title))
    return out


class SvgView(anywidget.AnyWidget):  # type: ignore[misc]  # anywidget's base is untyped to mypy
    """An SVG whose nodes can be clicked: ``value`` is the markup, ``selected`` the clicked node."""

    _esm = ESM
    _css = CSS
    value = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    id_prefix = traitlets.Unicode("").tag(sync=True)

    def node_names(self) -> list[str]:
        return node_names(self.value, self.id_prefix)
