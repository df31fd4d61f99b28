"""The table of confusable URLs the security tests try on every outbound path, and the names
the tests share."""

TRAP_HOST = "127.0.0.2"
WORKSPACE = "ws-sec-1"
ADDON_ID = "addon-sec-1"

# URLs that are (or, to some parser, look like) a Clockify host and are not one the policy allows.
# ``{p}``: the arbitrary trap port on 127.0.0.2; ``{f}``: the fake Clockify's port on 127.0.0.1, a
# host the test settings allow (so a guard that reads the host wrongly would really call it).
CONFUSABLE_URLS = [
    # backslashes: urllib.parse and urllib3 split the authority at different places
    "http://127.0.0.2\\.x.clockify.me/api",
    "http://127.0.0.2:{p}\\.x.clockify.me/api",
    "https://127.0.0.2\\\\.api.clockify.me/api",
    "http://127.0.0.2\\@127.0.0.1:{f}/api",
    "http://127.0.0.2\\@api.clockify.me/api",
    "http:\\\\127.0.0.2\\api",
    "http:/\\127.0.0.2/api",
    # userinfo
    "http://api.clockify.me@127.0.0.2/api",
    "http://api.clockify.me:443@127.0.0.2:{p}/api",
    "http://user@127.0.0.1:{f}/api",
    "http://127.0.0.2:{p}@127.0.0.1:{f}/api",
    # percent-encoding in the authority
    "http://127%2e0%2e0%2e2/api",
    "http://127.0.0.2%40x.clockify.me/api",
    "http://127.0.0.2%5c.x.clockify.me/api",
    "http://127.0.0.2%5C@127.0.0.1:{f}/api",
    "http://127.0.0.2%2f.x.clockify.me/api",
    "http://127.0.0.1%2e:{f}/api",
    "http://api.clockify.me%2e/api",
    # trailing dots
    "http://127.0.0.2./api",
    "http://127.0.0.1.:{f}/api",
    "https://api.clockify.me./api",
    "http://x.clockify.me../api",
    # non-ASCII: IDN lookalikes, ideographic and fullwidth dots and digits, invisible characters
    "http://\u0430pi.clockify.me/api",
    "http://127\u30020\u30020\u30022/api",
    "http://\uff11\uff12\uff17.0.0.2/api",
    "http://127.0.0.2\u3002x.clockify.me/api",
    "http://\uff41pi.clockify.me/api",
    "http://api.clockify.me\u200b/api",
    "http://127.0.0.1\uff1a{f}/api",
    # whitespace and control characters
    "http://127.0.0.2\t.x.clockify.me/api",
    "http://127.0.0.2\n.x.clockify.me/api",
    "http://127.0.0.2 .x.clockify.me/api",
    " http://127.0.0.2:{p}/api",
    "http://127.0.0.2\r\n.x.clockify.me/api",
    "http://127.0.0.2\x00.x.clockify.me/api",
    "http://api.clockify.me/api\n",
    # IPv6 and bracketed literals
    "http://[::ffff:127.0.0.2]/api",
    "http://[::ffff:7f00:2]:{p}/api",
    "http://[::1]:{f}/api",
    "http://[127.0.0.2]/api",
    # decimal, octal, hexadecimal and short IPv4 forms
    "http://2130706434/api",
    "http://0x7f000002/api",
    "http://0177.0.0.2/api",
    "http://127.0.2/api",
    "http://0x7f.0.0.2:{p}/api",
    "http://127.0.0.02/api",
    "http://2130706433:{f}/api",
    # ports
    "http://127.0.0.2:{p}/api",
    "http://127.0.0.2:80/api",
    "https://127.0.0.2:443/api",
    "http://127.0.0.1:{f}:80/api",
    "http://127.0.0.1:99999/api",
    "http://api.clockify.me:{p}:443/api",
    # '#' and '?' inside what one parser calls the authority
    "http://127.0.0.2#.clockify.me/api",
    "http://127.0.0.2?.clockify.me/api",
    "http://127.0.0.2#@api.clockify.me/api",
    "http://127.0.0.2?@api.clockify.me/api",
    "http://127.0.0.2:{p}#x.clockify.me",
    # case and scheme
    "HTTP://127.0.0.2\\.X.CLOCKIFY.ME/api",
    "hTtP://127.0.0.2:{p}/api",
    "//127.0.0.2/api",
    "ftp://api.clockify.me/api",
    "file:///etc/passwd",
    "gopher://127.0.0.2:{p}/_x",
    "http:///127.0.0.2/api",
    "http://127.0.0.2/api",
    "",
]


def confusable_ids() -> list[str]:
    """Readable, ASCII test ids for the table."""
    return [f"{i:02d}-" + url.encode("ascii", "backslashreplace").decode()[:40]
            for i, url in enumerate(CONFUSABLE_URLS)]
