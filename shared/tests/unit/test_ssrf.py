"""The shared SSRF guard (gateway webhooks, notifier contacts) on IP literals, "localhost" and fake
resolvers: no test here makes a DNS or network call."""

import asyncio

import pytest

from tierline_shared import ssrf


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


# -- IPv6 addresses that carry an IPv4 one are judged by it --------------------------------------


def _carried(ip: ssrf.ipaddress.IPv6Address) -> ssrf.ipaddress.IPv4Address:
    """The IPv4 address the test data says ``ip`` carries, read with the standard library."""
    if ip.teredo:
        return ip.teredo[1]
    return ip.ipv4_mapped or ip.sixtofour or ssrf.ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("64:ff9b::a00:1", "10.0.0.1"),  # NAT64 well-known prefix
        ("64:ff9b::7f00:1", "127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("64:ff9b::6440:1", "100.64.0.1"),
        ("2002:a9fe:a9fe::", "169.254.169.254"),  # 6to4
        ("2002:a00:1::1", "10.0.0.1"),
        ("2002:7f00:1::", "127.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "10.0.0.1"),  # Teredo: the client's, bits inverted
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
        ("::7f00:1", "127.0.0.1"),  # IPv4-compatible (deprecated)
        ("::a00:1", "10.0.0.1"),
        ("::a9fe:a9fe", "169.254.169.254"),
        ("::ffff:a9fe:a9fe", "169.254.169.254"),  # IPv4-mapped, written in hex
        ("::ffff:100.64.0.1", "100.64.0.1"),
    ],
)
async def test_ipv6_carrying_a_non_public_ipv4_is_refused(address: str, carried: str) -> None:
    ip = ssrf.ipaddress.IPv6Address(address)
    assert _carried(ip) == ssrf.ipaddress.IPv4Address(carried), "the test's own arithmetic"
    with pytest.raises(ssrf.Refused, match="non-public"):
        await ssrf.check(f"https://[{address}]/hook", [])
    # as a name resolving to it (DNS64 synthesizes such AAAA records), checked as the resolver does
    with pytest.raises(ssrf.Refused, match="non-public"):
        ssrf.check_addresses("hooks.vendor.example", [ip], [])


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "::ffff:8.8.8.8", "2002:808:808::1"])
async def test_ipv6_carrying_a_public_ipv4_is_allowed(address: str) -> None:
    await ssrf.check(f"https://[{address}]/hook", [])
    ssrf.check_addresses("hooks.vendor.example", [ssrf.ipaddress.ip_address(address)], [])


async def test_a_carrying_address_may_still_be_allow_listed() -> None:
    await ssrf.check("http://[64:ff9b::a00:1]:9100/cases", ["64:ff9b::/96"])
    with pytest.raises(ssrf.Refused):  # allow-listing the IPv4 does not allow the IPv6 that carries it
        await ssrf.check("https://[64:ff9b::a00:1]/cases", ["10.0.0.0/8"])


async def test_the_unspecified_and_loopback_ipv6_are_not_read_as_ipv4() -> None:
    for address in ("::", "::1"):  # ::/96 holds them too; they are refused as themselves
        with pytest.raises(ssrf.Refused, match="non-public"):
            await ssrf.check(f"https://[{address}]/hook", [])


# -- vetting a URL as a vendor is registered (``vet``): a fake resolver, no real DNS ----------------


def _resolving_to(*addresses: str) -> ssrf.Resolve:
    async def resolve(host: str) -> list[ssrf.Address]:
        return [ssrf.ipaddress.ip_address(a) for a in addresses]

    return resolve


async def _never_asked(host: str) -> list[ssrf.Address]:
    raise AssertionError(f"{host} was looked up")


async def _no_such_name(host: str) -> list[ssrf.Address]:
    raise ssrf.Unresolved(f"cannot resolve {host!r}: Name or service not known")


async def _hanging(host: str) -> list[ssrf.Address]:
    await asyncio.Event().wait()  # a resolver that never answers
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("addresses", "reason"),
    [
        (["10.0.0.1"], "resolves to non-public addresses (10.0.0.1)"),
        (["169.254.169.254"], "non-public"),
        (["::1"], "non-public"),
        (["93.184.216.34", "192.168.1.10"], "(192.168.1.10)"),  # one inside is one too many
    ],
)
async def test_a_name_resolving_inside_is_refused_at_registration(addresses: list[str], reason: str) -> None:
    with pytest.raises(ssrf.Refused) as refused:
        await ssrf.vet("https://hooks.vendor.example/x", [], resolver=_resolving_to(*addresses))
    assert reason in str(refused.value) and "allow-list it" in str(refused.value)


async def test_a_name_resolving_to_public_addresses_is_accepted_without_warning() -> None:
    resolver = _resolving_to("93.184.216.34", "2606:4700::1111")
    assert await ssrf.vet("https://hooks.vendor.example/x", [], resolver=resolver) is None


@pytest.mark.parametrize(
    ("url", "allow", "reason"),
    [
        ("http://10.0.0.1/x", [], "10.0.0.1 is not allow-listed, so its webhook must use https"),
        ("https://10.0.0.1/x", [], "10.0.0.1 is a non-public address"),
        ("https://[fd00::1]/x", ["10.0.0.0/8"], "fd00::1 is a non-public address"),
        ("http://hooks.vendor.example/x", [], "must use https"),  # plain http, refused before any lookup
        ("http://hooks.vendor.example/x", ["10.0.0.0/8"], "must use https"),  # a CIDR does not allow http
    ],
)
async def test_what_needs_no_lookup_is_refused_without_one(url: str, allow: list[str], reason: str) -> None:
    with pytest.raises(ssrf.Refused, match=reason.replace("(", r"\(").replace(".", r"\.")):
        await ssrf.vet(url, allow, resolver=_never_asked)


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.1:9100/x", ["127.0.0.1"]),
        ("http://10.1.2.3/x", ["10.0.0.0/8"]),
        ("http://vendor-simulator-acme:9100/x", ["vendor-simulator-acme"]),  # by name: not looked up
        ("https://93.184.216.34/x", []),
    ],
)
async def test_allowed_hosts_and_literals_are_accepted_without_a_lookup(url: str, allow: list[str]) -> None:
    assert await ssrf.vet(url, allow, resolver=_never_asked) is None


async def test_a_name_resolving_into_an_allowed_cidr_is_accepted() -> None:
    resolver = _resolving_to("10.1.2.3")
    assert await ssrf.vet("https://hooks.internal.example/x", ["10.0.0.0/8"], resolver=resolver) is None


async def test_a_name_that_does_not_resolve_is_accepted_with_a_warning() -> None:
    warning = await ssrf.vet("https://hooks.vendor.example/x", [], resolver=_no_such_name)
    assert warning is not None and "hooks.vendor.example" in warning
    assert "deliveries check it again" in warning


async def test_a_lookup_that_does_not_answer_in_time_is_a_warning_not_a_wait() -> None:
    started = asyncio.get_running_loop().time()
    warning = await ssrf.vet("https://slow.vendor.example/x", [], timeout=0.05, resolver=_hanging)
    assert (
        warning
        == "slow.vendor.example did not resolve within 0.05s; deliveries check it again when they send"
    )
    assert asyncio.get_running_loop().time() - started < 1.0


async def test_the_real_resolver_reports_a_name_dns_cannot_hold_as_unresolved() -> None:
    with pytest.raises(ssrf.Unresolved, match="not a valid DNS name"):
        await ssrf.resolve("a" * 64 + ".example")  # a label of 64: IDNA refuses it before any query


async def test_a_refusal_ends_with_the_callers_hint_or_a_neutral_one() -> None:
    with pytest.raises(ssrf.Refused, match=r"10\.0\.0\.1 is a non-public address; allow-list it to call it$"):
        await ssrf.check("https://10.0.0.1/x", [])
    hint = "add it to notifier.allow_hosts"
    with pytest.raises(ssrf.Refused, match=r"non-public address; add it to notifier\.allow_hosts$"):
        await ssrf.check("https://10.0.0.1/x", [], hint=hint)
    with pytest.raises(ssrf.Refused, match=r"\(10\.0\.0\.1\); add it to notifier\.allow_hosts$"):
        await ssrf.vet("https://hooks.example/x", [], resolver=_resolving_to("10.0.0.1"), hint=hint)
    with pytest.raises(ssrf.Refused, match=r"non-public address; add it to notifier\.allow_hosts$"):
        ssrf.check_url("https://[::1]/x", [], hint=hint)
    with pytest.raises(ssrf.Refused, match=r"; add it to notifier\.allow_hosts$"):
        await ssrf.GuardedResolver([], hint=hint).resolve("localhost", 443)
