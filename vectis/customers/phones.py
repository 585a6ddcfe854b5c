"""Phone numbers as vendors wrote them ("2075550100", "+44 113 496 0123", "(916) 555-0147"), shown in one form and
dialled with a ``tel:`` link.

A number is read in the customer's country when the location names one (a number written without its country
code means nothing without it), and shown in the international form, which reads the same to a technician in
any country. What libphonenumber cannot read as a valid number is shown exactly as the vendor wrote it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers

# Country names as vendors write them (ConnectWise's country list, Keepit's and Veeam's free text), casefolded,
# to ISO 3166 regions. Two-letter codes are read as themselves.
COUNTRIES = {
    "usa": "US", "united states": "US", "united states of america": "US", "america": "US",
    "united kingdom": "GB", "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "ireland": "IE", "republic of ireland": "IE", "eire": "IE",
    "netherlands": "NL", "the netherlands": "NL", "holland": "NL", "nederland": "NL", "belgium": "BE",
    "luxembourg": "LU", "germany": "DE", "deutschland": "DE", "france": "FR", "austria": "AT", "switzerland": "CH",
    "italy": "IT", "spain": "ES", "portugal": "PT", "denmark": "DK", "danmark": "DK", "sweden": "SE",
    "norway": "NO", "finland": "FI", "iceland": "IS", "poland": "PL", "czech republic": "CZ", "czechia": "CZ",
    "canada": "CA", "mexico": "MX", "australia": "AU", "new zealand": "NZ", "south africa": "ZA", "india": "IN",
    "singapore": "SG", "japan": "JP", "united arab emirates": "AE", "uae": "AE", "israel": "IL",
}  # fmt: skip
_DIALLABLE = re.compile(r"[^0-9+]")


@dataclass(frozen=True)
class Phone:
    text: str  # what the page shows
    tel: str | None  # the tel: address; None when the text holds too few digits to dial


def region_of(location: str | None) -> str | None:
    """The region of the country a location ends with ("Leeds, England, United Kingdom" -> GB)."""
    if not location:
        return None
    country = location.rsplit(",", 1)[-1].strip()
    if len(country) == 2 and country.upper() in phonenumbers.SUPPORTED_REGIONS:
        return country.upper()
    return COUNTRIES.get(country.casefold())


# Reading a number costs ~0.1-0.3 ms and a page of 50 customers reads 50; the same ones, page after page.
@functools.lru_cache(maxsize=16_384)
def phone(raw: str | None, location: str | None = None) -> Phone | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, region_of(location))
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_valid_number(number):
        return Phone(
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        )
    digits = _DIALLABLE.sub("", text)
    return Phone(text, digits if sum(c.isdigit() for c in digits) >= 5 else None)
