"""A logo upload made safe to serve: PNG as it is (checked to be one), SVG rebuilt from an allowlist.

An SVG is a document that can run script (``<script>``, ``onload=``, ``javascript:`` links), embed HTML
(``<foreignObject>``) and fetch from elsewhere (``href="https://…"``, ``url(…)`` in a style). HTML sanitisers
(nh3, bleach) know HTML's elements, not SVG's, and would either keep nothing or keep too much; so the file is
parsed with defusedxml (no DTD, no entity expansion, no external fetch: an XML bomb or XXE is refused, not
expanded) and rebuilt with only the drawing elements and presentation attributes below. Anything else is dropped,
not escaped: what is served is what this module wrote.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_BYTES = 512 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"

ELEMENTS = frozenset(
    {
        "svg", "g", "defs", "title", "desc", "symbol", "use",
        "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
        "text", "tspan", "textPath",
        "linearGradient", "radialGradient", "stop", "clipPath", "mask", "pattern",
    }
)  # fmt: skip
ATTRIBUTES = frozenset(
    {
        "id", "class", "viewBox", "width", "height", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry",
        "d", "points", "transform", "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
        "stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "opacity",
        "clip-path", "clip-rule", "mask", "offset", "stop-color", "stop-opacity", "gradientUnits",
        "gradientTransform", "patternUnits", "patternTransform", "preserveAspectRatio", "font-family", "font-size",
        "font-weight", "font-style", "text-anchor", "dominant-baseline", "letter-spacing", "dx", "dy", "fx", "fy",
        "spreadMethod", "clipPathUnits", "maskUnits", "maskContentUnits", "visibility", "display", "href",
        "role", "aria-label", "aria-hidden", "version",
    }
)  # fmt: skip
# A reference to anything but a fragment of this same file (url(#grad) is fine, url(https://…) is not).
_URL = re.compile(r"url\(\s*['\"]?\s*([^)'\"\s]*)", re.IGNORECASE)
_SCHEME = re.compile(r"^\s*[a-z][a-z0-9+.-]*:", re.IGNORECASE)


class LogoRefused(Exception):
    """The file cannot be a logo; ``message`` says why, for the admin who chose it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Logo:
    content: bytes
    content_type: str  # image/svg+xml | image/png
    removed: tuple[str, ...] = ()  # what the sanitiser took out, said back to the admin


def accept(filename: str, content: bytes) -> Logo:
    if not content:
        raise LogoRefused("The file is empty. Choose the logo file again.")
    if len(content) > MAX_BYTES:
        raise LogoRefused(f"The logo is {len(content) // 1024} KB; use one of at most {MAX_BYTES // 1024} KB.")
    if content.startswith(PNG_MAGIC):
        return Logo(content, "image/png")
    if filename.lower().endswith(".png"):
        raise LogoRefused("That file is named .png but is not a PNG image.")
    return sanitise_svg(content)


def _local(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return None, tag


def _external(value: str) -> bool:
    """Does ``value`` point outside this file or run something (``javascript:``, ``data:``, ``https:``)?"""
    if _SCHEME.match(value):
        return True
    return any(not found.startswith("#") for found in _URL.findall(value))


def sanitise_svg(content: bytes) -> Logo:
    try:
        root = fromstring(content, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError):
        raise LogoRefused("That file is neither a PNG nor an SVG image Vectis can read.") from None
    if _local(root.tag) != (SVG, "svg"):
        raise LogoRefused("That file is neither a PNG nor an SVG image (an SVG starts with an <svg> element).")
    removed: list[str] = []
    clean = _rebuild(root, removed)
    if clean is None:  # unreachable: the root was checked above
        raise LogoRefused("That SVG has nothing Vectis can show.")
    ET.register_namespace("", SVG)
    ET.register_namespace("xlink", XLINK)
    return Logo(ET.tostring(clean, encoding="utf-8", xml_declaration=False), "image/svg+xml", tuple(removed))


def _rebuild(element: ET.Element, removed: list[str]) -> ET.Element | None:
    namespace, name = _local(element.tag)
    if namespace != SVG or name not in ELEMENTS:
        removed.append(f"<{name}>")
        return None
    kept = ET.Element(element.tag)
    for key, value in element.attrib.items():
        attr_namespace, attr = _local(key)
        allowed = attr_namespace in (None, XLINK) and attr in ATTRIBUTES
        if attr_namespace == XLINK and attr != "href":
            allowed = False
        if allowed and attr == "href" and not value.strip().startswith("#"):
            allowed = False
        if not allowed or _external(value):
            removed.append(f"{attr}=")
            continue
        kept.set(key, value)
    kept.text = element.text if name in ("text", "tspan", "textPath", "title", "desc") else None
    for child in element:
        rebuilt = _rebuild(child, removed)
        if rebuilt is not None:
            rebuilt.tail = None
            kept.append(rebuilt)
    return kept
