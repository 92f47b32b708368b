#!/usr/bin/env python3
"""Runs lifecare-to-cosmic-link.xsl over the example admission notice and SIP
plan with lxml (libxslt), in one process, and prints messages per second.

    python3 benches/xslt/run.py [SECONDS]

Needs lxml (pip install lxml). The stylesheet's output is first compared
with the Cosmic Link examples, so the two translations measured do the same
work.
"""
import pathlib
import sys
import time

from lxml import etree

HERE = pathlib.Path(__file__).resolve().parent
EXAMPLES = HERE.parent.parent / "tests" / "data" / "examples"
TYPES = ["admissionNotice", "sipPlan"]


def tree(e):
    return (e.tag, sorted((k.split("}")[-1], v.strip()) for k, v in e.attrib.items()),
            (e.text or "").strip(), [tree(c) for c in e])


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    transform = etree.XSLT(etree.parse(str(HERE / "lifecare-to-cosmic-link.xsl")))
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    batch = [(EXAMPLES / "lifecare" / f"{t}.xml").read_bytes() for t in TYPES]
    for t, message in zip(TYPES, batch):
        out = transform(etree.fromstring(message, parser))
        want = etree.parse(str(EXAMPLES / "cosmic-link" / f"{t}.xml")).getroot()
        if tree(out.getroot()) != tree(want):
            sys.exit(f"the stylesheet's {t} differs from the Cosmic Link example")
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for message in batch:
            # Bytes in, bytes out: parse, transform, serialise.
            bytes(transform(etree.fromstring(message, parser)))
        done += len(batch)
    elapsed = time.perf_counter() - start
    print(f"xslt (lxml {etree.__version__}, libxslt {'.'.join(map(str, etree.LIBXSLT_VERSION))}): "
          f"{done / elapsed:,.0f} messages/s over {done} messages")


if __name__ == "__main__":
    main()
