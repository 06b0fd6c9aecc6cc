"""The SSRF guard on IP literals and "localhost" only: no test here makes a real DNS or network call."""

import pytest

from tierline_vendor_gateway.adapters import ssrf


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",  # loopback
        "https://127.8.9.10/hook",
        "https://10.1.2.3/hook",  # private
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",  # link-local: the cloud metadata service
        "https://224.0.0.1/hook",  # multicast
        "https://240.0.0.1/hook",  # reserved
        "https://0.0.0.0/hook",  # unspecified
        "https://[::1]/hook",  # IPv6 loopback
        "https://[::]/hook",  # IPv6 unspecified
        "https://[fe80::1]/hook",  # IPv6 link-local
        "https://[fd00::1]/hook",  # IPv6 unique local
        "https://[fec0::1]/hook",  # IPv6 site-local (deprecated, still internal)
        "https://[ff02::1]/hook",  # IPv6 multicast
        "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "https://[::ffff:169.254.169.254]/hook",  # IPv4-mapped metadata
        "https://[::ffff:10.0.0.1]/hook",
        "https://user:pw@127.0.0.1:8443/hook",  # credentials do not change the host
        "https://93.184.216.34@127.0.0.1/hook",  # the host is after the @
    ],
)
async def test_non_public_addresses_are_refused_even_over_https(url: str) -> None:
    with pytest.raises(ssrf.Refused, match="non-public"):
        await ssrf.check(url, [])


async def test_localhost_by_name_is_refused() -> None:
    with pytest.raises(ssrf.Refused):
        await ssrf.check("https://localhost/hook", [])


async def test_http_to_a_public_address_is_refused() -> None:
    with pytest.raises(ssrf.Refused, match="https"):
        await ssrf.check("http://93.184.216.34/x", [])


@pytest.mark.parametrize(
    "url", ["https://93.184.216.34/x", "https://93.184.216.34:8443/x?a=1", "https://[2606:4700::1111]/x"]
)
async def test_https_to_a_public_address_is_allowed(url: str) -> None:
    await ssrf.check(url, [])


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.216.34/x",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "javascript:alert(1)",
        "93.184.216.34/x",
        "https:///no-host",
        "",
    ],
)
async def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(ssrf.Refused, match="not an http"):
        await ssrf.check(url, ["127.0.0.0/8", "localhost", "93.184.216.34"])


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.1:9100/cases", ["127.0.0.1"]),  # by IP
        ("https://127.0.0.1:9100/cases", ["127.0.0.1"]),
        ("http://127.0.0.1:9100/cases", ["127.0.0.0/8"]),  # by CIDR
        ("http://127.5.5.5/cases", ["127.0.0.0/8"]),
        ("http://10.20.30.40/cases", ["10.0.0.0/8", "127.0.0.1"]),
        ("http://[::1]:9100/cases", ["::1"]),
        ("http://localhost:9100/cases", ["localhost"]),  # by name
        ("http://LocalHost:9100/cases", ["localhost"]),
        ("http://localhost:9100/cases", ["LOCALHOST"]),
        ("http://93.184.216.34/x", ["93.184.216.34"]),  # allow-listing also lets plain http through
    ],
)
async def test_allow_listed_hosts_may_be_private_and_plain_http(url: str, allow: list[str]) -> None:
    await ssrf.check(url, allow)


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.2/cases", ["127.0.0.1"]),  # one IP is not its neighbour
        ("http://10.0.0.1/cases", ["127.0.0.0/8"]),
        ("http://127.0.0.1/cases", ["localhost"]),  # a name does not allow its address as a literal
        ("http://169.254.169.254/", ["169.254.169.253"]),
    ],
)
async def test_allow_list_covers_only_what_it_names(url: str, allow: list[str]) -> None:
    with pytest.raises(ssrf.Refused):
        await ssrf.check(url, allow)


async def test_literals_are_not_looked_up() -> None:
    assert await ssrf.resolve("10.0.0.1") == [ssrf.ipaddress.ip_address("10.0.0.1")]
    assert await ssrf.resolve("::ffff:127.0.0.1") == [ssrf.ipaddress.ip_address("::ffff:127.0.0.1")]


@pytest.mark.parametrize("url", ["https://100.100.100.200/latest/meta-data/", "https://100.64.0.1/hook"])
async def test_shared_address_space_is_refused(url: str) -> None:
    with pytest.raises(ssrf.Refused):
        await ssrf.check(url, [])
