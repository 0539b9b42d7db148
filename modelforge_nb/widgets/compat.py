"""The few places where ipywidgets 7 and 8 differ, in one module.

Colab's runtime ships ipywidgets 7.7 (its front end renders those natively; ipywidgets 8
needs a widget manager from a CDN there), Kaggle, JupyterLab 4 and VS Code ship 8. The
widgets here are written once against the parts both share; what differs goes through these
functions, so a change of either version is mended in one place.
"""

from __future__ import annotations

from typing import Any

#: The widget view mime type both versions display a widget as.
VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def view_data(widget: Any) -> dict[str, Any]:
    """The ``application/vnd.jupyter.widget-view+json`` payload that shows ``widget``.

    ipywidgets 8 returns it from ``_repr_mimebundle_``; ipywidgets 7 builds the same
    payload inside ``_ipython_display_`` (protocol 2.0) and has no method returning it.
    """
    bundle = getattr(widget, "_repr_mimebundle_", None)
    if bundle is not None:
        return dict(bundle()[VIEW_MIME])
    return {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}


def set_tooltip(widget: Any, text: str) -> None:
    """A widget's hover text: ``tooltip`` in ipywidgets 8 (and on 7's buttons),
    ``description_tooltip`` on 7's other controls."""
    for name in ("tooltip", "description_tooltip"):
        if widget.has_trait(name):
            setattr(widget, name, text)
            return


def tooltip(widget: Any) -> str:
    """The hover text ``set_tooltip`` gave ``widget``."""
    for name in ("tooltip", "description_tooltip"):
        if widget.has_trait(name):
            return str(getattr(widget, name) or "")
    return ""


def set_titles(container: Any, titles: tuple[str, ...]) -> None:
    """The section titles of an Accordion (``titles`` in 8; 7 has only ``set_title``)."""
    if container.has_trait("titles"):
        container.titles = tuple(titles)
        return
    for index, title in enumerate(titles):
        if container.get_title(index) != title:
            container.set_title(index, title)


def titles(container: Any) -> tuple[str, ...]:
    """The section titles of an Accordion, as ``set_titles`` left them."""
    if container.has_trait("titles"):
        return tuple(container.titles)
    return tuple(container.get_title(i) or "" for i in range(len(container.children)))


def uploaded_files(upload: Any) -> list[tuple[str, bytes]]:
    """The files in a FileUpload as (name, content): 8 keeps a tuple of dicts, 7 a dict
    from name to ``{"metadata", "content"}``."""
    value = upload.value
    if isinstance(value, dict):
        return [(str(name), bytes(item["content"])) for name, item in value.items()]
    return [(str(item["name"]), bytes(item["content"])) for item in value]


def clear_upload(upload: Any) -> None:
    """Empty a FileUpload, so that uploading the same file again is a change too."""
    if isinstance(upload.value, dict):  # ipywidgets 7: ``value`` is read-only
        upload.set_trait("value", {})
    else:
        upload.value = ()
