"""Page requisites found in HTML and CSS: pure functions, no crawl."""

from __future__ import annotations

from crawler.requisites import css_requisites, html_requisites

PAGE = """<html><head><base href="/sub/"><link rel="stylesheet" href="a.css">
<link rel="canonical" href="elsewhere.html"><link rel="icon" href="/favicon.ico">
<style>body { background: url(bg.png) }</style><script src="s.js"></script><script>var x;</script></head>
<body style="background-image: url('b2.png')"><img src="i.png" srcset="i1.png 1x, i2.png 2x">
<picture><source srcset="p.webp"></picture><video poster="v.jpg" src="v.mp4"></video>
<input type="image" src="btn.png"><input type="text" src="not-an-image.png">
<img src="data:image/png;base64,AAAA"><img src="i.png"><a href="link.html">a link</a></body></html>"""


def test_every_kind_of_html_requisite_in_document_order() -> None:
    found = html_requisites("https://example.org/page/", PAGE)
    expected = "a.css /favicon.ico bg.png s.js b2.png i.png i1.png i2.png p.webp v.jpg v.mp4 btn.png"
    base = "https://example.org/sub/"
    assert found == [
        "https://example.org" + name if name.startswith("/") else base + name for name in expected.split()
    ]


def test_no_requisites_in_what_is_not_html() -> None:
    assert html_requisites("https://example.org/", "") == []
    assert html_requisites("https://example.org/", "plain words, no markup") == []


def test_stylesheet_urls_and_imports() -> None:
    css = "@import 'print.css'; .a { background: url(\"../img/x.png\") } .b { src: url(data:font/woff2,AA) }"
    assert css_requisites("https://example.org/css/site.css", css) == [
        "https://example.org/css/print.css",
        "https://example.org/img/x.png",
    ]
