"""Raw e-mail samples shared by the e-mail adapter and SMTP server tests.

Written as mail clients and mail servers write them: a Gmail-style plain message, an
HTML-only message in ISO-8859-1, a reply in a thread, a message with a PDF attached
and a Postfix bounce (RFC 3464 delivery status notification).
"""

from __future__ import annotations

PLAIN = b"""\
Return-Path: <jan@example.nl>
MIME-Version: 1.0
Date: Mon, 23 Nov 2026 12:58:30 +0100
Message-ID: <CAKx7Pm1-q2bV0dZ@mail.example.nl>
Subject: Waar blijft mijn bestelling 1001?
From: Jan de Vries <JAN@Example.NL>
To: Klantenservice <service@shop.example.nl>
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

Goedemiddag,

Mijn bestelling 1001 (een boormachine) is nog niet bezorgd. Kunt u kijken w=
aar hij blijft? Caf=C3=A9 om de hoek heeft hem ook niet.

Groet,
Jan
""".replace(b"\n", b"\r\n")

HTML_LATIN1 = b"""\
MIME-Version: 1.0
Date: Mon, 23 Nov 2026 13:05:00 +0100
Message-ID: <20261123130500.4711@webmail.example.be>
Subject: =?ISO-8859-1?Q?Annulering_bestelling_1002_caf=E9?=
From: =?ISO-8859-1?Q?Ren=E9e_Dupr=E9?= <renee@example.be>
To: service@shop.example.nl
Content-Type: text/html; charset="ISO-8859-1"
Content-Transfer-Encoding: quoted-printable

<html><head><title>Annulering</title><style>p { color: red }</style></head>
<body><p>Beste klantenservice,</p><p>Ik wil bestelling 1002 annuleren &amp; =
het geld terug =96 graag snel.<br>Mijn caf=E9 gaat dicht.</p>
<div>Ren=E9e</div></body></html>
""".replace(b"\n", b"\r\n")

REPLY = b"""\
MIME-Version: 1.0
Date: Tue, 24 Nov 2026 09:15:00 +0100
Message-ID: <CAKx7Pm9-reply@mail.example.nl>
In-Reply-To: <a1b2c3d4-0000-4000-8000-000000000001@shop.example.nl>
References: <CAKx7Pm1-q2bV0dZ@mail.example.nl>
 <a1b2c3d4-0000-4000-8000-000000000001@shop.example.nl>
Subject: Re: Uw bestelling 1001
From: Jan de Vries <jan@example.nl>
To: service@shop.example.nl
Content-Type: text/plain; charset="UTF-8"

Dank u, donderdag is prima.

On Mon, 23 Nov 2026 at 14:00, Klantenservice <service@shop.example.nl> wrote:
> Uw bestelling wordt donderdag bezorgd.
""".replace(b"\n", b"\r\n")

WITH_ATTACHMENT = b"""\
MIME-Version: 1.0
Date: Tue, 24 Nov 2026 10:00:00 +0100
Message-ID: <att-77@mail.example.nl>
Subject: Foto van de schade
From: jan@example.nl
To: service@shop.example.nl
Auto-Submitted: no
Content-Type: multipart/mixed; boundary="000000000000abcdef"

--000000000000abcdef
Content-Type: multipart/alternative; boundary="000000000000fedcba"

--000000000000fedcba
Content-Type: text/plain; charset="UTF-8"

De boormachine kwam beschadigd aan, zie de bijlagen.

--000000000000fedcba
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">De boormachine kwam beschadigd aan, zie de bijlagen.</div>

--000000000000fedcba--

--000000000000abcdef
Content-Type: application/pdf; name="pakbon 1001.pdf"
Content-Disposition: attachment; filename="pakbon 1001.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8
PC9Sb290IDEgMCBSPj4KJSVFT0YK
--000000000000abcdef
Content-Type: image/jpeg; name="schade.jpg"
Content-Disposition: inline; filename="schade.jpg"
Content-Transfer-Encoding: base64

/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAP//////////////////////////////////////////
--000000000000abcdef--
""".replace(b"\n", b"\r\n")

PDF_SIZE = 78
"""The decoded size of the PDF in ``WITH_ATTACHMENT``."""
JPEG_SIZE = 57

BOUNCE = b"""\
Return-Path: <>
Date: Mon, 23 Nov 2026 14:00:05 +0100 (CET)
From: MAILER-DAEMON@mx.shop.example.nl (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: service@shop.example.nl
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
 boundary="8A1F83C0A12.1763902805/mx.shop.example.nl"
Message-Id: <20261123130005.2B9E23C0A13@mx.shop.example.nl>

This is a MIME-encapsulated message.

--8A1F83C0A12.1763902805/mx.shop.example.nl
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.shop.example.nl.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<oud@example.nl>: host mx.example.nl[192.0.2.25] said: 550 5.1.1
    <oud@example.nl>: Recipient address rejected: User unknown

--8A1F83C0A12.1763902805/mx.shop.example.nl
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.shop.example.nl
X-Postfix-Queue-ID: 8A1F83C0A12
X-Postfix-Sender: rfc822; service@shop.example.nl
Arrival-Date: Mon, 23 Nov 2026 14:00:04 +0100 (CET)

Final-Recipient: rfc822; oud@example.nl
Original-Recipient: rfc822;oud@example.nl
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.nl
Diagnostic-Code: smtp; 550 5.1.1 <oud@example.nl>: Recipient address rejected:
    User unknown

--8A1F83C0A12.1763902805/mx.shop.example.nl
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Date: Mon, 23 Nov 2026 14:00:00 +0100
From: Klantenservice <service@shop.example.nl>
To: oud@example.nl
Subject: Uw bestelling 1001
Message-ID: <a1b2c3d4-0000-4000-8000-00000000b0b0@shop.example.nl>

--8A1F83C0A12.1763902805/mx.shop.example.nl--
""".replace(b"\n", b"\r\n")

BOUNCED_ID = "a1b2c3d4-0000-4000-8000-00000000b0b0@shop.example.nl"
