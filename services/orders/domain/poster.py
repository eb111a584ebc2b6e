"""The digital poster the dispatch email carries: a printable A4 PDF for the staff room,
pointing to wellbeing resources and the CARE workforce app (FAQ 11).

Generated here (fpdf2, its built-in Helvetica) rather than shipped as a file, so its links
and wording live in code review with everything else.
"""

from __future__ import annotations

import functools

from fpdf import FPDF

WORKFORCE_APP = "https://workforce.adultsocialcare.uk"

#: (what it is, where to find it) - the resources the leaflets in the parcel also list.
RESOURCES: tuple[tuple[str, str], ...] = (
    (
        "The CARE workforce app: guidance, wellbeing support and practical help for everyone "
        "working in adult social care",
        WORKFORCE_APP,
    ),
    (
        "Every Mind Matters: free NHS advice on looking after your mental health",
        "https://www.nhs.uk/every-mind-matters",
    ),
    (
        "Getting ready for winter: flu and COVID-19 vaccination for social care staff",
        "https://www.nhs.uk/vaccinations",
    ),
    (
        "Urgent support: call NHS 111, or text SHOUT to 85258 to talk to a trained volunteer",
        "https://giveusashout.org",
    ),
)

_BLUE = (29, 112, 184)
_BLACK = (11, 12, 12)


@functools.cache
def poster_pdf() -> bytes:
    """The poster as PDF bytes (the same for every order: it holds no personal data).

    Made once per process: building it costs 18 ms of CPU, which at launch load every
    dispatched order paid again for the same bytes.
    """
    pdf = FPDF(format="A4")
    pdf.set_title("CARE: support for you")
    pdf.set_author("Department of Health and Social Care")
    pdf.set_subject("Wellbeing resources and the CARE workforce app")
    pdf.set_lang("en-GB")
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    width = pdf.epw

    pdf.set_text_color(*_BLUE)
    pdf.set_font("helvetica", "B", 44)
    pdf.cell(width, 22, "CARE", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font("helvetica", "B", 22)
    pdf.multi_cell(
        width, 11, "Thank you for everything you do", new_x="LMARGIN", new_y="NEXT", align="C"
    )
    pdf.ln(4)
    pdf.set_text_color(*_BLACK)
    pdf.set_font("helvetica", "", 14)
    pdf.multi_cell(
        width,
        7,
        "Your CARE badge recognises the skill and commitment of everyone paid to work in "
        "adult social care in England. Wear it with pride. Looking after others starts with "
        "looking after yourself: these are here for you.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(6)
    for what, link in RESOURCES:
        pdf.set_font("helvetica", "B", 14)
        pdf.multi_cell(width, 7, what, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*_BLUE)
        pdf.set_font("helvetica", "U", 14)
        pdf.cell(width, 8, link, link=link, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*_BLACK)
        pdf.ln(5)
    pdf.ln(4)
    pdf.set_font("helvetica", "B", 16)
    pdf.multi_cell(
        width,
        8,
        "Download the CARE workforce app from the App Store or Google Play, or use it online at "
        f"{WORKFORCE_APP}",
        new_x="LMARGIN",
        new_y="NEXT",
        align="C",
    )
    return bytes(pdf.output())
