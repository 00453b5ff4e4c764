"""Messages: language choice, layering, the template sandbox, per-channel rendering and
SMS segments.

``reference_segments`` below counts SMS segments the slow way: it encodes the text
into real GSM 03.38 septets (the tables indexed by code, escape included) or UTF-16
code units, then cuts segments one code at a time. ``sms_segments`` is checked
against it.
"""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnikit
from omnikit import (
    BUILTIN_CHANNELS,
    Channel,
    Message,
    MessageTooLongError,
    OmnikitError,
    TemplateError,
    ValidationError,
    Variant,
    render,
    sms_segments,
)

CHANNELS = {channel.id: channel for channel in BUILTIN_CHANNELS}
EMAIL, SMS, WHATSAPP, TWITTER = (CHANNELS[name] for name in ("email", "sms", "whatsapp", "twitter"))
MiB = 1 << 20

# the reference ---------------------------------------------------------------------------

# GSM 03.38 basic table, position = septet code (0x1B is the escape to the extension).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
ESCAPE = 0x1B


def test_the_reference_tables() -> None:
    assert len(GSM_BASIC) == 128
    assert GSM_BASIC[0x00] == "@" and GSM_BASIC[0x10] == "Δ" and GSM_BASIC[0x24] == "¤"
    assert GSM_BASIC[0x40] == "¡" and GSM_BASIC[0x60] == "¿" and GSM_BASIC[0x7F] == "à"


def gsm_codes(text: str) -> list[list[int]] | None:
    """Each character as its septets, or None when one is not in GSM 03.38."""
    by_char = {char: code for code, char in GSM_EXTENSION.items()}
    codes: list[list[int]] = []
    for char in text:
        if char in by_char:
            codes.append([ESCAPE, by_char[char]])
        elif char != "\x1b" and char in GSM_BASIC:
            codes.append([GSM_BASIC.index(char)])
        else:
            return None
    return codes


def utf16_codes(text: str) -> list[list[int]]:
    """Each character as its UTF-16 code units (a surrogate pair stays together)."""
    codes = []
    for char in text:
        data = char.encode("utf-16-be", "surrogatepass")
        codes.append([int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)])
    return codes


def cut(codes: list[list[int]], single: int, multi: int) -> int:
    units = sum(len(group) for group in codes)
    if units <= single:
        return 1
    segments: list[list[int]] = [[]]
    for group in codes:
        if len(segments[-1]) + len(group) > multi:
            segments.append([])
        segments[-1].extend(group)
    return len(segments)


def reference_segments(text: str) -> tuple[str, int, int]:
    codes = gsm_codes(text)
    if codes is not None:
        return "GSM-7", sum(map(len, codes)), cut(codes, 160, 153)
    codes = utf16_codes(text)
    return "UCS-2", sum(map(len, codes)), cut(codes, 70, 67)


# SMS segments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€", "GSM-7", 2, 1),
        ("a" * 158 + "€", "GSM-7", 160, 1),
        ("a" * 159 + "€", "GSM-7", 161, 2),
        # 152 septets, then € cannot straddle the cut: it opens segment two
        ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),
        ("a" * 152 + "€" * 77, "GSM-7", 306, 3),
        ("Café é", "GSM-7", 6, 1),
        ("Crème brûlée ê", "UCS-2", 14, 1),
        ("ê" * 70, "UCS-2", 70, 1),
        ("ê" * 71, "UCS-2", 71, 2),
        ("ê" * 134, "UCS-2", 134, 2),
        ("ê" * 135, "UCS-2", 135, 3),
        ("😀", "UCS-2", 2, 1),
        ("😀" * 35, "UCS-2", 70, 1),
        ("😀" * 36, "UCS-2", 72, 2),
        # 66 units, then the emoji's surrogate pair opens segment two
        ("ê" * 66 + "😀" + "ê" * 3, "UCS-2", 71, 2),
        ("\x1b", "UCS-2", 1, 1),
        ("{[~]}|^\\\f€", "GSM-7", 20, 1),
        ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", "GSM-7", 44, 1),
    ],
)
def test_sms_segments_examples(text: str, encoding: str, units: int, segments: int) -> None:
    info = sms_segments(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)
    assert reference_segments(text) == (encoding, units, segments)


def test_sms_segments_needs_a_string() -> None:
    with pytest.raises(ValidationError, match="takes a str, not int"):
        sms_segments(160)  # type: ignore[arg-type]


GSM_TEXT = st.text(alphabet=st.sampled_from(GSM_BASIC.replace("\x1b", "") + "€{}[]~|^\\\f"))
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("ae €{é\n"),
        st.sampled_from("êñ😀中\x1b"),
        st.characters(exclude_categories=("Cs",)),
    ),
    max_size=400,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(GSM_TEXT, ANY_TEXT))
def test_sms_segments_match_the_reference(text: str) -> None:
    info = sms_segments(text)
    assert (info.encoding, info.units, info.segments) == reference_segments(text)


@settings(max_examples=200, deadline=None)
@given(GSM_TEXT.filter(lambda text: len(text) > 0), st.data())
def test_gsm_segments_grow_with_the_text(text: str, data: st.DataObject) -> None:
    cut_at = data.draw(st.integers(0, len(text)))
    shorter, longer = sms_segments(text[:cut_at]), sms_segments(text)
    assert shorter.encoding == longer.encoding == "GSM-7"
    assert shorter.units <= longer.units and shorter.segments <= longer.segments
    assert sms_segments(text + "a").segments >= longer.segments


# language choice -------------------------------------------------------------------------


def greeting() -> Message:
    return Message(
        body="Hello",
        language="en",
        translations={
            "nl": Variant(body="Hallo"),
            "pt-PT": Variant(body="Olá"),
            "pt-BR": Variant(body="Oi"),
            "en-GB": Variant(body="Hello, mate"),
        },
    )


@pytest.mark.parametrize(
    ("wanted", "used", "text"),
    [
        (None, "en", "Hello"),
        ("nl", "nl", "Hallo"),  # exact
        ("NL", "nl", "Hallo"),  # exact, ignoring case
        ("EN-gb", "en-GB", "Hello, mate"),
        ("pt-BR", "pt-BR", "Oi"),
        ("nl-BE", "nl", "Hallo"),  # the primary subtag
        ("nl_BE", "nl", "Hallo"),
        ("pt-AO", "pt-PT", "Olá"),  # the first translation with the same primary subtag
        ("en-US", "en", "Hello"),  # the message's own language matches the primary subtag
        ("de", "en", "Hello"),  # nothing matches: the top-level fields
        ("", "en", "Hello"),
    ],
)
def test_language_fallback(wanted: str | None, used: str, text: str) -> None:
    rendered = render(greeting(), SMS, language=wanted)
    assert (rendered.language, rendered.text) == (used, text)


def test_the_own_language_is_a_candidate_at_every_step() -> None:
    message = Message(body="Hoi", language="nl-NL", translations={"nl": Variant(body="Hallo")})
    assert render(message, SMS, language="nl-NL").text == "Hoi"  # exact beats primary
    assert render(message, SMS, language="nl").text == "Hallo"
    assert render(message, SMS, language="nl-BE").text == "Hallo"


def test_language_tags_are_checked_and_normalised() -> None:
    message = Message(language="NL", translations={"EN-GB": Variant(body="Hi")}, body="Hoi")
    assert message.language == "nl" and list(message.translations) == ["en-GB"]
    with pytest.raises(ValidationError, match="not a language tag"):
        Message(body="x", language="dutch language")
    with pytest.raises(ValidationError, match="not a language tag"):
        Message(body="x", translations={"nl BE": Variant(body="y")})
    with pytest.raises(ValidationError, match="'NL' and 'nl' are the same language"):
        Message(body="x", translations={"nl": Variant(body="y"), "NL": Variant(body="z")})
    with pytest.raises(ValidationError, match="'EN' is the message's own language"):
        Message(body="x", language="en", translations={"EN": Variant(body="y")})
    with pytest.raises(ValidationError, match="language must be a str"):
        render(message, SMS, language=31)  # type: ignore[arg-type]


# layering --------------------------------------------------------------------------------


def layered() -> Message:
    return Message(
        subject="top subject",
        body="top body",
        template="order_ready",
        template_params=("{{ order }}",),
        channels={
            "sms": Variant(body="top sms body"),
            "email": Variant(subject="top email subject"),
        },
        translations={
            "nl": Variant(
                body="nl body",
                channels={"sms": Variant(body="nl sms body")},
            ),
            "pl": Variant(subject="pl subject", template_params=("nr {{ order }}",)),
        },
        data={"order": 1001},
    )


@pytest.mark.parametrize(
    ("channel", "language", "subject", "text"),
    [
        ("email", None, "top email subject", "top body"),  # top → top.channels
        ("sms", None, None, "top sms body"),
        ("whatsapp", None, None, "top body"),
        ("email", "nl", "top email subject", "nl body"),  # translation sets no subject
        ("whatsapp", "nl", None, "nl body"),
        ("sms", "nl", None, "nl sms body"),  # translation.channels wins over all
        ("email", "pl", "pl subject", "top body"),  # translation beats top.channels
        ("sms", "pl", None, "top sms body"),  # pl sets no body: top.channels['sms'] stays
    ],
)
def test_layering_order(channel: str, language: str | None, subject: str, text: str) -> None:
    rendered = render(layered(), CHANNELS[channel], language=language)
    assert (rendered.subject, rendered.text) == (subject, text)


def test_a_template_given_once_applies_in_every_language() -> None:
    for language, params in ((None, ("1001",)), ("nl", ("1001",)), ("pl", ("nr 1001",))):
        rendered = render(layered(), WHATSAPP, language=language)
        assert rendered.template == "order_ready"
        assert rendered.template_params == params


def test_whatsapp_template_and_params_are_rendered() -> None:
    message = Message(
        template="delivery_update",
        template_params=("{{ name|title }}", "{{ '%05d'|format(order) }}", "{{ eta }}"),
        data={"name": "jan jansen", "order": 42},
    )
    rendered = render(message, WHATSAPP, data={"eta": "Tuesday"})
    assert rendered.template == "delivery_update"
    assert rendered.template_params == ("Jan Jansen", "00042", "Tuesday")
    assert rendered.text is None and rendered.length == 0 and rendered.parts == 1
    # the provider template name is not a jinja template
    assert render(Message(template="{{ raw }}"), WHATSAPP).template == "{{ raw }}"
    # parameters without a template are not rendered, so their errors do not count
    rendered = render(Message(body="Hi", template_params=("{{ missing }}",)), WHATSAPP)
    assert (rendered.template, rendered.template_params) == (None, ())


def test_data_argument_overlays_the_message_data() -> None:
    message = Message(body="{{ greeting }} {{ name }}", data={"greeting": "Hi", "name": "you"})
    assert render(message, SMS, data={"name": "Jan"}).text == "Hi Jan"
    assert render(message, SMS).text == "Hi you"
    with pytest.raises(ValidationError, match="data must be a mapping"):
        render(message, SMS, data=["name"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="data"):
        render(message, SMS, data={"name": object()})  # type: ignore[dict-item]


def test_channel_overrides_are_one_level_deep() -> None:
    with pytest.raises(ValidationError, match=r"channels\['sms'\] has channels of its own"):
        Message(body="x", channels={"sms": Variant(channels={"sms": Variant(body="y")})})
    with pytest.raises(ValidationError, match=r"channels\['sms'\] has channels of its own"):
        Variant(channels={"sms": Variant(channels={"email": Variant(body="y")})})
    with pytest.raises(ValidationError, match="'SMS!' is not a channel id"):
        Message(body="x", channels={"SMS!": Variant(body="y")})
    with pytest.raises(ValidationError, match="must be a Variant, not a Message"):
        Message(body="x", translations={"nl": Message(body="y")})


# per channel -----------------------------------------------------------------------------


def test_email_gets_subject_text_and_html_made_from_the_text() -> None:
    message = Message(
        subject="  Your order {{ order }}  \n",
        body="\nHi {{ name }},\n\nYour order is ready.\nCome by <soon>.\n\n\nThanks\n",
        data={"order": 1001, "name": "<script>alert(1)</script>"},
    )
    rendered = render(message, EMAIL)
    assert rendered.subject == "Your order 1001"
    assert rendered.text == (
        "Hi <script>alert(1)</script>,\n\nYour order is ready.\nCome by <soon>.\n\n\nThanks"
    )
    assert rendered.html == (
        "<html><body>\n"
        "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;,</p>\n"
        "<p>Your order is ready.<br>\nCome by &lt;soon&gt;.</p>\n"
        "<p>Thanks</p>\n"
        "</body></html>\n"
    )
    assert rendered.encoding is None and rendered.segments is None and rendered.parts == 1


def test_an_html_template_escapes_the_data() -> None:
    message = Message(
        subject="Hi",
        body="Hi {{ name }}",
        html="<p>Hi <b>{{ name }}</b> {{ '<i>ok</i>'|safe }} {{ name ~ '&' }}</p>",
        data={"name": "<script>x</script>"},
    )
    rendered = render(message, EMAIL)
    assert rendered.html == (
        "<p>Hi <b>&lt;script&gt;x&lt;/script&gt;</b> <i>ok</i> "
        "&lt;script&gt;x&lt;/script&gt;&amp;</p>"
    )
    assert rendered.text == "Hi <script>x</script>"
    # only the fields a channel carries are rendered: html is not for SMS
    broken = message.model_copy(update={"html": "{{ missing }}"})
    assert render(broken, SMS).text == "Hi <script>x</script>"
    with pytest.raises(TemplateError, match="html"):
        render(broken, EMAIL)


def test_other_channels_drop_the_subject_or_send_it_as_the_text() -> None:
    rendered = render(Message(subject="Order {{ n }} ready", data={"n": 7}), SMS)
    assert (rendered.subject, rendered.text, rendered.html) == (None, "Order 7 ready", None)
    rendered = render(Message(subject="Subject", body="Body"), WHATSAPP)
    assert (rendered.subject, rendered.text) == (None, "Body")
    # a body that renders empty counts as none
    rendered = render(Message(subject="Subject", body="{% if false %}x{% endif %}"), SMS)
    assert rendered.text == "Subject"


def test_sms_reports_encoding_segments_and_parts() -> None:
    rendered = render(Message(body="{{ 'a' * 200 }}"), SMS)
    assert (rendered.encoding, rendered.segments, rendered.parts, rendered.length) == (
        "GSM-7",
        2,
        2,
        200,
    )
    rendered = render(Message(body="Prośba 😀"), SMS)
    assert (rendered.encoding, rendered.segments, rendered.parts) == ("UCS-2", 1, 1)
    rendered = render(Message(body="{{ 'a' * 200 }}"), WHATSAPP)
    assert (rendered.encoding, rendered.segments, rendered.parts) == (None, None, 1)


@pytest.mark.parametrize(("channel", "limit"), [(SMS, 1600), (TWITTER, 280)])
def test_too_long_for_the_channel(channel: Channel, limit: int) -> None:
    render(Message(body="{{ 'a' * limit }}", data={"limit": limit}), channel)
    with pytest.raises(MessageTooLongError) as caught:
        render(Message(body="{{ 'a' * (limit + 1) }}", data={"limit": limit}), channel)
    assert f"channel {channel.id!r}" in str(caught.value)
    assert f"{limit + 1:,} characters" in str(caught.value)
    assert f"its limit is {limit:,}" in str(caught.value)
    assert isinstance(caught.value, ValidationError)


def test_nothing_to_send_is_an_error_naming_the_channel() -> None:
    with pytest.raises(ValidationError, match="nothing to send on channel 'sms'"):
        render(Message(html="<p>only html</p>"), SMS)
    with pytest.raises(ValidationError, match="nothing to send on channel 'email'"):
        render(Message(subject="Only a subject"), EMAIL)
    with pytest.raises(ValidationError, match="nothing to send on channel 'whatsapp'"):
        render(Message(body="   {{ '' }}  "), WHATSAPP)
    assert render(Message(html="<p>only html</p>"), EMAIL).html == "<p>only html</p>"


def test_a_subject_is_one_line() -> None:
    with pytest.raises(ValidationError, match=r"subject .*line break") as caught:
        render(Message(subject="Order {{ n }}", body="b", data={"n": "1\nBcc: x"}), EMAIL)
    assert not isinstance(caught.value, TemplateError)
    with pytest.raises(ValidationError, match=r"translations\['nl'\].subject"):
        render(
            Message(body="b", translations={"nl": Variant(subject="a\u2028b")}),
            EMAIL,
            language="nl",
        )


def test_render_checks_its_arguments() -> None:
    with pytest.raises(ValidationError, match="takes a Message, not dict"):
        render({"body": "x"}, SMS)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="takes a Channel, not str"):
        render(Message(body="x"), "sms")  # type: ignore[arg-type]


def test_a_custom_channel_with_subject_and_limit() -> None:
    letter = Channel(
        id="letter",
        name="Letter",
        identity_kind=None,
        realtime=False,
        outbound=True,
        subject=True,
        text_limit=10,
    )
    rendered = render(Message(subject="S", body="0123456789"), letter)
    assert (rendered.subject, rendered.text, rendered.parts) == ("S", "0123456789", 1)
    assert rendered.html is not None and "<p>0123456789</p>" in rendered.html
    with pytest.raises(MessageTooLongError, match="'letter'"):
        render(Message(subject="S", body="01234567890"), letter)


# templates and the sandbox ---------------------------------------------------------------


def test_undefined_variables_are_named_with_the_field() -> None:
    message = Message(
        body="Hi {{ name }}",
        translations={"nl": Variant(channels={"sms": Variant(body="Hoi {{ naam }}")})},
    )
    with pytest.raises(TemplateError) as caught:
        render(message, SMS, language="nl", data={"name": "Jan"})
    assert str(caught.value) == (
        "translations['nl'].channels['sms'].body 'Hoi {{ naam }}': 'naam' is undefined"
    )
    with pytest.raises(TemplateError, match=r"^body 'Hi \{\{ name \}\}': 'name' is undefined"):
        render(message, SMS)
    with pytest.raises(TemplateError, match=r"template_params\[1\] .*'b' is undefined"):
        render(Message(template="t", template_params=("{{ a }}", "{{ b }}"), data={"a": 1}), SMS)
    with pytest.raises(TemplateError, match="has no attribute 'city'"):
        render(Message(body="{{ address.city }}", data={"address": {}}), SMS)
    assert issubclass(TemplateError, ValidationError)


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(TemplateError, match=r"^subject '\{% if x %\}': syntax error on line 1"):
        render(Message(subject="{% if x %}"), SMS)


def test_templates_can_loop_filter_and_branch() -> None:
    message = Message(
        body=(
            "Hi {{ name|default('there') }},\n"
            "{% for line in lines %}\n"
            "- {{ line.qty }} x {{ line.item|upper }}\n"
            "{% endfor %}\n"
            "Total: {{ '%.2f'|format(lines|sum(attribute='price')) }}"
            "{% if lines|length > 1 %} ({{ lines|length }} items){% endif %}"
        ),
        data={
            "lines": [
                {"qty": 1, "item": "drill", "price": 79.5},
                {"qty": 2, "item": "saw", "price": 20},
            ]
        },
    )
    assert render(message, SMS).text == (
        "Hi there,\n- 1 x DRILL\n- 2 x SAW\nTotal: 99.50 (2 items)"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{{ ''.__class__.__mro__ }}", "unsafe"),
        ("{{ cycler.__init__.__globals__ }}", "unsafe"),
        ("{{ order.__class__ }}", "unsafe"),
        ("{{ order['__class__'] }}", "unsafe"),
        ("{{ order|attr('__class__') }}", "unsafe"),
        ("{{ ''.format.__globals__ }}", "unsafe"),
        ("{{ '{0.__class__}'.format(order) }}", "unsafe"),
        ("{{ lines.append(1) }}", "unsafe"),
        ("{{ order.clear() }}", "unsafe"),
        ("{{ 'x'.encode() }}", "not available"),
        ("{{ 'a\tb'.expandtabs(10**9) }}", "not available"),
        ("{{ lipsum(10**6) }}", "'lipsum' is undefined"),
        ("{{ order|pprint }}", "No filter named 'pprint'"),
        ("{% include '/etc/passwd' %}", "cannot include, import or extend"),
        ("{% extends 'base.html' %}", "cannot include, import or extend"),
        ("{% import 'macros' as m %}", "cannot include, import or extend"),
        ("{% from 'macros' import x %}", "cannot include, import or extend"),
    ],
)
def test_the_sandbox_holds(body: str, reason: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(reason)):
        render(Message(body=body, data={"order": {"id": 1}, "lines": [1]}), SMS)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ 'a' + 1 }}", "TypeError"),
        ("{{ 10.0 ** 400 }}", "OverflowError"),
        ("{{ 'abc'.index('z') }}", "ValueError"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
        ("{{ 2 ** 20000 }}", "ValueError"),  # over Python's 4,300 digits for str(int)
    ],
)
def test_errors_while_rendering_become_template_errors(body: str, reason: str) -> None:
    with pytest.raises(TemplateError, match=rf"^body .*{reason}"):
        render(Message(body=body), SMS)


def test_a_rendered_field_is_at_most_one_mib() -> None:
    assert render(Message(body="{{ 'x' * n }}", data={"n": MiB}), EMAIL).length == MiB
    with pytest.raises(
        TemplateError, match=r"1,048,577 characters or items; the limit is 1,048,576"
    ):
        render(Message(body="{{ 'x' * n }}", data={"n": MiB + 1}), EMAIL)
    with pytest.raises(TemplateError, match="rendered text is over 1,048,576 characters"):
        render(Message(body="{% for i in range(2000) %}{{ 'y' * 1000 }}{% endfor %}"), EMAIL)
    with pytest.raises(TemplateError, match="over 1,048,576 characters"):
        render(Message(body="x" * (MiB + 1)), EMAIL)


HOSTILE = [
    "{{ 'x' * 10**9 }}",
    "{{ ['x'] * 10**9 }}",
    "{{ 10 ** 1000000 }}",
    "{{ (2 ** 60000) * (2 ** 60000) }}",
    "{{ 'x'|center(10**9) }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ '1'.zfill(10**9) }}",
    "{{ '%1000000000d' % 1 }}",
    "{{ '%*d' % (10**9, 1) }}",
    "{{ '%1000000000d'|format(1) }}",
    "{{ '{:1000000000}'.format(1) }}",
    "{{ '{:{}}'.format(1, 10**9) }}",
    "{{ ('x' * 1000000).replace('', 'yy') }}",
    "{{ ('x' * 1000000)|replace('x', 'xxx') }}",
    "{{ ('x\n' * 500000)|indent(1000) }}",
    "{{ ('x ' * 500000)|wordwrap(1, wrapstring='-' * 100) }}",
    "{{ ('x' * 1000000)|join('y' * 10) }}",
    "{{ ('y' * 100).join('x' * 1000000) }}",
    "{{ range(10)|batch(10**9, 'x')|list }}",
    "{{ range(10)|slice(10**9)|list }}",
    "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}"
    "{% endmacro %}{{ f('x', 60) }}",
    "{% macro f(s, n) %}{% if n %}{{ f([s, s], n - 1) }}{% else %}{{ s }}{% endif %}"
    "{% endmacro %}{{ f('x', 60) }}",
    "{% set ns = namespace(x=[1]) %}{% for i in range(80) %}{% set ns.x = [ns.x, ns.x] %}"
    "{% endfor %}{{ ns }}",
    "{% set ns = namespace(x=[1]) %}{% for i in range(80) %}{% set ns.x = [ns.x, ns.x] %}"
    "{% endfor %}{{ ns.x|tojson }}",
    "{% set ns = namespace(x=['x' * 1000]) %}{% for i in range(30) %}"
    "{% set ns.x = ns.x + ns.x %}{% endfor %}{{ ns.x|join }}",
    "{% set y %}{% for i in range(1000) %}{% for j in range(1000) %}"
    "................................................................"
    "{% endfor %}{% endfor %}{% endset %}{{ y|length }}",
    "{% macro f(n) %}{{ 'z' * 1000 }}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    "{% endmacro %}{% set y = f(40) %}done",
]


@pytest.mark.parametrize("body", HOSTILE)
def test_templates_cannot_exhaust_memory(body: str) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(TemplateError):
            render(Message(body=body), EMAIL)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * MiB, f"{peak / MiB:.0f} MiB"
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize(
    "body",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for x in [1] recursive %}{% if loop.depth < 4 %}{{ loop(range(100000)) }}{% endif %}"
        "{% endfor %}",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}",
        "{% for i in range(100000) %}{{ i.real.real.real.real.real.real.real.real }}"
        "{{ i.real.real.real.real.real.real.real.real }}{% endfor %}",
    ],
)
def test_templates_have_a_work_budget(body: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateError, match="units of work"):
        render(Message(body=body), EMAIL)
    assert time.perf_counter() - started < 5


def test_compiled_templates_are_cached() -> None:
    from omnikit._templates import _compile_cached

    message = Message(body="Cached {{ n }}")
    render(message, SMS, data={"n": 1})
    hits, misses = _compile_cached.cache_info()[:2]
    assert render(message, SMS, data={"n": 2}).text == "Cached 2"
    assert _compile_cached.cache_info()[:2] == (hits + 1, misses)
    # a template over 64 KiB is compiled each time, not kept
    big = Message(body="{{ n }}" + "." * 65536)
    assert render(big, EMAIL, data={"n": 1}).length == 65537
    assert _compile_cached.cache_info()[:2] == (hits + 1, misses)


# properties ------------------------------------------------------------------------------

# fmt: off
TOKENS = (
    "{{", "}}", "{%", "%}", "{#", "#}", " ", "\n", "x", "name", "items", "for", "in",
    "endfor", "if", "endif", "else", "set", "=", "|", "upper", "join", "center", "replace",
    "format", "*", "**", "+", "~", "%", "(", ")", "[", "]", ".", ",", "'a'", "'%s'", "1",
    "0", "99999", "range", "loop", "macro", "endmacro", "caller", "namespace", "__class__",
    "attr", "map", "sum", "dict", "cycler", "is", "defined", "not", "-", "/", "recursive",
    "filter", "endfilter", "raw", "endraw", "self", "'{:>5}'",
)
# fmt: on
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=10,
)
TEMPLATE = st.one_of(
    st.text(max_size=40), st.lists(st.sampled_from(TOKENS), max_size=25).map("".join)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    TEMPLATE,
    TEMPLATE,
    TEMPLATE,
    st.dictionaries(st.sampled_from(["x", "name", "items", "a"]), JSON, max_size=4),
    st.sampled_from(BUILTIN_CHANNELS),
    st.sampled_from([None, "nl", "en-GB"]),
)
def test_render_raises_nothing_but_omnikit_errors(
    subject: str,
    body: str,
    html: str,
    data: dict[str, object],
    channel: Channel,
    language: str | None,
) -> None:
    message = Message(
        subject=subject,
        body=body,
        html=html,
        template_params=(body,),
        translations={"nl": Variant(body=subject)},
    )
    try:
        rendered = render(message, channel, language=language, data=data)  # type: ignore[arg-type]
    except OmnikitError:
        return
    assert rendered.length == len(rendered.text or "")
    assert rendered.subject is None or "\n" not in rendered.subject


# the docs --------------------------------------------------------------------------------


def test_the_docs_examples_run() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "messages.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    assert blocks
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/messages.md", "exec"), namespace)


def test_public_names() -> None:
    for name in ("Message", "Variant", "Rendered", "SmsInfo", "render", "sms_segments"):
        assert name in omnikit.__all__
    for name in ("TemplateError", "MessageTooLongError"):
        assert name in omnikit.errors.__all__ and name in omnikit.__all__
