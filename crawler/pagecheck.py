"""Does an HTML page show its text without JavaScript? If not, it goes to the browser.

Works on a parsel ``Selector`` so the spider's one parse of a page serves both
this check and :func:`crawler.requisites.html_requisites`.
"""

from __future__ import annotations

from parsel import Selector

# Below this much visible text a page that loads scripts is looked at closely.
_THIN_TEXT = 500
_EMPTY_TEXT = 40
_VISIBLE = (
    "//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript or ancestor::template)]"
)


def visible_text(sel: Selector) -> str:
    """The text a reader sees without script, whitespace folded.

    >>> visible_text(Selector(text="<body><p>Hi <b>there</b></p><script>x=1</script></body>"))
    'Hi there'
    """
    return " ".join(" ".join(sel.xpath(_VISIBLE).getall()).split())


def needs_browser(sel: Selector) -> bool:
    """True when a page's main text is empty unless its scripts run.

    >>> needs_browser(Selector(text='<body><div id="app"></div><script src="app.js"></script></body>'))
    True
    >>> needs_browser(Selector(text='<body><p>' + 'Plain words. ' * 60 + '</p><script></script></body>'))
    False
    >>> needs_browser(Selector(text='<body><p>Short page, no script.</p></body>'))
    False
    """
    if not sel.xpath("//script"):
        return False
    text = visible_text(sel)
    if len(text) >= _THIN_TEXT:
        return False
    if len(text) < _EMPTY_TEXT:
        return True
    import trafilatura  # only for the rare thin page: it is slow to import and to run

    main = trafilatura.extract(sel.get(), favor_recall=True) or ""
    return len(main.strip()) < _EMPTY_TEXT
