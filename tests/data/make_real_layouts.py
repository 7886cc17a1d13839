"""Writes the small test files in the platforms' real export layouts (run once; output committed).

    .venv/bin/python tests/data/make_real_layouts.py

Each file keeps its platform's exact column names and quirks, and holds a few records that an
importer must reject (listed in the comments below and checked by tests/io/test_io_real_layouts.py):

- ``uci_online_retail.csv``: the UCI Online Retail layout (one row per invoice line, GBP with no
  currency column, ``12/1/2010 8:26`` dates, ``C`` invoices are cancellations with negative
  quantities, rows without a CustomerID, an ``A`` bad-debt adjustment, a free line at 0.00).
- ``shopify_orders_zar.csv`` / ``shopify_orders_bdt.csv``: Shopify's orders export in ZAR (VAT
  included in prices) and BDT (cash on delivery, pending until collected), multi-line orders,
  phone-only buyers, a zero-value order, dates re-saved by Excel.
- ``shopify_customers_legacy.csv``: the older Shopify customers export (``Accepts Marketing``,
  ``Address1``..., no Customer ID column), the same people as the ZAR orders.
- ``woocommerce_orders_export.csv``: a WooCommerce orders export with every core status.
- ``rudderstack_segment.jsonl``: Segment-spec messages as RudderStack delivers them.
"""

from __future__ import annotations

import csv
import json
import random
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).parent

SHOPIFY_ORDER_COLUMNS = (  # noqa: SIM905 (the header as one line, as exported)
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
    "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
    "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,"
    "Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,"
    "Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,Billing City,"
    "Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,"
    "Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
    "Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,"
    "Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,"
    "Location,Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,Tax 1 Value,"
    "Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,Tax 4 Name,Tax 4 Value,Tax 5 Name,"
    "Tax 5 Value,Phone,Receipt Number,Duties,Billing Province Name,Shipping Province Name,"
    "Payment ID,Payment Terms Name,Next Payment Due At,Payment References"
).split(",")

# --- UCI Online Retail ------------------------------------------------------------------------

PRODUCTS = [
    ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "2.55"),
    ("71053", "WHITE METAL LANTERN", "3.39"),
    ("84406B", "CREAM CUPID HEARTS COAT HANGER", "2.75"),
    ("84029G", "KNITTED UNION FLAG HOT WATER BOTTLE", "3.39"),
    ("84029E", "RED WOOLLY HOTTIE WHITE HEART.", "3.39"),
    ("22752", "SET 7 BABUSHKA NESTING BOXES", "7.65"),
    ("21730", "GLASS STAR FROSTED T-LIGHT HOLDER", "4.25"),
    ("22633", "HAND WARMER UNION JACK", "1.85"),
    ("22632", "HAND WARMER RED POLKA DOT", "1.85"),
    ("84879", "ASSORTED COLOUR BIRD ORNAMENT", "1.69"),
    ("22745", "POPPY'S PLAYHOUSE BEDROOM ", "2.10"),
    ("22748", "POPPY'S PLAYHOUSE KITCHEN", "2.10"),
    ("22749", "FELTCRAFT PRINCESS CHARLOTTE DOLL", "3.75"),
    ("22310", "IVORY KNITTED MUG COSY ", "1.65"),
    ("84969", "BOX OF 6 ASSORTED COLOUR TEASPOONS", "4.25"),
    ("22623", "BOX OF VINTAGE JIGSAW BLOCKS ", "4.95"),
    ("22622", "BOX OF VINTAGE ALPHABET BLOCKS", "9.95"),
    ("21754", "HOME BUILDING BLOCK WORD", "5.95"),
    ("21755", "LOVE BUILDING BLOCK WORD", "5.95"),
    ("21777", "RECIPE BOX WITH METAL HEART", "7.95"),
    ("48187", "DOORMAT NEW ENGLAND", "7.95"),
    ("22960", "JAM MAKING SET WITH JARS", "4.25"),
    ("22913", "RED COAT RACK PARIS FASHION", "4.95"),
    ("POST", "POSTAGE", "18.00"),
]
COUNTRIES = ["United Kingdom"] * 7 + ["France", "Germany", "EIRE", "Netherlands", "Norway"]


def uci_online_retail(rng: random.Random) -> None:
    """About 300 rows; every rejected record is of a kind the real file has."""
    customers = [(str(12346 + 37 * k), rng.choice(COUNTRIES)) for k in range(40)]
    rows: list[list[str]] = []
    invoice = 536365
    minute = 8 * 60 + 26  # 12/1/2010 8:26
    day = 0
    bought: list[tuple[str, str, list[tuple[str, str, str, int]]]] = []

    def stamp() -> str:
        month, dom = (12, 1 + day) if day < 31 else (1 + (day - 31) // 28, 1 + (day - 31) % 28)
        year = 2010 if day < 31 else 2011
        return f"{month}/{dom}/{year} {minute // 60}:{minute % 60:02d}"

    for n in range(70):
        if n and n % 3 == 0:
            day += rng.randint(1, 9)
            minute = rng.randint(8 * 60, 17 * 60)
        elif n:
            minute = min(minute + rng.randint(1, 40), 19 * 60)
        customer, country = customers[n % 36] if n < 60 else rng.choice(customers[:36])
        lines = []
        for stock, title, price in rng.sample(PRODUCTS[:-1], rng.randint(1, 6)):
            lines.append((stock, title, price, rng.choice([1, 2, 3, 4, 6, 8, 12, 24])))
        if country != "United Kingdom" and rng.random() < 0.7:
            lines.append(("POST", "POSTAGE", "18.00", rng.choice([1, 2, 3])))
        when = stamp()
        for stock, title, price, qty in lines:
            rows.append([str(invoice), stock, title, str(qty), when, price, customer, country])
        bought.append((customer, country, lines))
        invoice += 1
        if n % 9 == 4:  # a guest checkout: no CustomerID (rejected: no customer)
            when = stamp()
            for stock, title, price in rng.sample(PRODUCTS[:-1], 3):
                rows.append([str(invoice), stock, title, "1", when, price, "", "United Kingdom"])
            invoice += 1
        if n % 11 == 6:  # a cancellation of an earlier invoice's line (rejected: negative qty)
            customer, country, lines = bought[rng.randrange(len(bought))]
            stock, title, price, qty = lines[0]
            rows.append([f"C{invoice}", stock, title, str(-qty), stamp(), price, customer, country])
            invoice += 1
    # A free line (UnitPrice 0.00) on an invoice of a known customer: imported.
    rows.append([str(invoice), "22841", "ROUND CAKE TIN VINTAGE GREEN", "1", stamp(), "0.00",
                 customers[2][0], customers[2][1]])  # fmt: skip
    invoice += 1
    # Customers 36..39 appear only in cancellations: none of them is a real buyer here.
    for customer, country in customers[36:]:
        stock, title, price = rng.choice(PRODUCTS[:-1])
        rows.append([f"C{invoice}", stock, title, "-2", stamp(), price, customer, country])
        invoice += 1
    # Stock adjustments without a customer: negative quantity, and the bad-debt row.
    rows.append([str(invoice), "21275", "?", "-36", stamp(), "0.00", "", "United Kingdom"])
    invoice += 1
    rows.append(["A563185", "B", "Adjust bad debt", "1", "8/12/2011 14:50", "-11062.06", "",
                 "United Kingdom"])  # fmt: skip
    with open(HERE / "uci_online_retail.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                    "UnitPrice", "CustomerID", "Country"])  # fmt: skip
        w.writerows(rows)


# --- Shopify -----------------------------------------------------------------------------------


def _money(x: Decimal) -> str:
    return f"{x:.2f}"


def shopify_rows(order: dict[str, object]) -> list[dict[str, str]]:
    """The export rows of one order: order-level columns on its first row only."""
    lines = order["lines"]
    assert isinstance(lines, list)
    subtotal = sum((Decimal(p) * q - Decimal(d) for _, _, p, q, d in lines), Decimal(0))
    subtotal -= Decimal(str(order.get("discount", "0")))
    shipping = Decimal(str(order.get("shipping", "0")))
    vat = Decimal(str(order.get("vat_rate", "0")))
    taxes = (subtotal + shipping) * vat / (1 + vat) if vat else Decimal(0)
    total = subtotal + shipping  # taxes are included in the prices
    name = str(order["name"])
    first: dict[str, str] = {
        "Name": name,
        "Email": str(order.get("email", "")),
        "Financial Status": str(order["financial"]),
        "Paid at": str(order.get("paid_at", "")),
        "Fulfillment Status": str(order.get("fulfillment", "unfulfilled")),
        "Fulfilled at": str(order.get("fulfilled_at", "")),
        "Accepts Marketing": str(order.get("accepts", "no")),
        "Currency": str(order["currency"]),
        "Subtotal": _money(subtotal),
        "Shipping": _money(shipping),
        "Taxes": _money(taxes),
        "Total": _money(total),
        "Discount Code": str(order.get("code", "")),
        "Discount Amount": _money(Decimal(str(order.get("discount", "0")))),
        "Shipping Method": str(order.get("method", "Standard")),
        "Created at": str(order["created"]),
        "Billing Name": str(order.get("billing_name", "")),
        "Billing Address1": str(order.get("address1", "")),
        "Billing City": str(order.get("city", "")),
        "Billing Zip": str(order.get("zip", "")),
        "Billing Province": str(order.get("province", "")),
        "Billing Country": str(order.get("country", "")),
        "Billing Phone": str(order.get("billing_phone", "")),
        "Shipping Name": str(order.get("billing_name", "")),
        "Shipping Address1": str(order.get("address1", "")),
        "Shipping City": str(order.get("city", "")),
        "Shipping Zip": str(order.get("zip", "")),
        "Shipping Province": str(order.get("province", "")),
        "Shipping Country": str(order.get("country", "")),
        "Cancelled at": str(order.get("cancelled_at", "")),
        "Payment Method": str(order.get("payment", "Shopify Payments")),
        "Refunded Amount": _money(Decimal(str(order.get("refunded", "0")))),
        "Outstanding Balance": _money(Decimal(str(order.get("outstanding", "0")))),
        "Id": str(order["id"]),
        "Risk Level": "Low",
        "Source": str(order.get("source", "web")),
        "Tax 1 Name": str(order.get("tax_name", "")) if vat else "",
        "Tax 1 Value": _money(taxes) if vat else "",
        "Phone": str(order.get("phone", "")),
        "Billing Province Name": str(order.get("province_name", "")),
        "Shipping Province Name": str(order.get("province_name", "")),
    }
    out = []
    for k, (sku, title, price, qty, disc) in enumerate(lines):
        row = first.copy() if k == 0 else {
            "Name": name, "Email": first["Email"], "Created at": first["Created at"],
        }  # fmt: skip
        row.update({
            "Lineitem quantity": str(qty), "Lineitem name": title, "Lineitem price": price,
            "Lineitem sku": sku, "Lineitem requires shipping": "true", "Lineitem taxable": "true",
            "Lineitem fulfillment status": first["Fulfillment Status"] if k == 0 else "pending",
            "Vendor": "Local Makers", "Lineitem discount": disc,
        })  # fmt: skip
        out.append(row)
    return out


def write_shopify(path: Path, orders: list[dict[str, object]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, SHOPIFY_ORDER_COLUMNS, restval="", lineterminator="\n")
        w.writeheader()
        for order in orders:
            w.writerows(shopify_rows(order))


ZA = {"country": "ZA", "currency": "ZAR", "vat_rate": "0.15", "tax_name": "VAT 15%"}
ZAR_ORDERS: list[dict[str, object]] = [
    {**ZA, "name": "#1001", "id": "5301001001", "email": "thandi.nkosi@example.co.za",
     "financial": "paid", "paid_at": "2024-03-01 10:04:00 +0200", "fulfillment": "fulfilled",
     "fulfilled_at": "2024-03-02 09:00:00 +0200", "created": "2024-03-01 10:04:00 +0200",
     "billing_name": "Thandi Nkosi", "address1": "12 Long Street", "city": "Cape Town",
     "zip": "8001", "province": "WC", "province_name": "Western Cape", "shipping": "99.00",
     "accepts": "yes",
     "lines": [("ROOIBOS-250", "Rooibos tea 250g", "89.00", 2, "0.00"),
               ("MUG-ZA", "Enamel mug", "149.00", 1, "0.00")]},
    {**ZA, "name": "#1002", "id": "5301001002", "email": "pieter.vdm@example.co.za",
     "financial": "paid", "paid_at": "2024-03-03 18:30:00 +0200", "fulfillment": "fulfilled",
     "created": "2024-03-03 18:30:00 +0200", "billing_name": "Pieter van der Merwe",
     "address1": "4 Church Street", "city": "Stellenbosch", "zip": "7600", "province": "WC",
     "province_name": "Western Cape", "shipping": "0.00", "code": "WELCOME10",
     "discount": "129.90",
     "lines": [("BILTONG-1KG", "Biltong 1kg", "1299.00", 1, "129.90")]},
    # phone-only buyer (no email), the Phone column as Shopify exports it
    {**ZA, "name": "#1003", "id": "5301001003", "phone": "+27825550143",
     "billing_phone": "082 555 0143", "financial": "paid",
     "paid_at": "2024-03-05 12:00:00 +0200", "created": "2024-03-05 12:00:00 +0200",
     "billing_name": "Sipho Dlamini", "address1": "88 Vilakazi Street", "city": "Soweto",
     "zip": "1804", "province": "GP", "province_name": "Gauteng", "shipping": "99.00",
     "lines": [("ROOIBOS-250", "Rooibos tea 250g", "89.00", 3, "0.00"),
               ("HONEY-500", "Fynbos honey 500g", "135.00", 1, "0.00"),
               ("MUG-ZA", "Enamel mug", "149.00", 2, "0.00")]},
    # a free sample: a zero-value order
    {**ZA, "name": "#1004", "id": "5301001004", "email": "thandi.nkosi@example.co.za",
     "financial": "paid", "created": "2024-03-08 08:15:00 +0200", "code": "FREESAMPLE",
     "billing_name": "Thandi Nkosi", "address1": "12 Long Street", "city": "Cape Town",
     "zip": "8001", "province": "WC", "province_name": "Western Cape", "discount": "45.00",
     "lines": [("SAMPLE-TEA", "Tea sampler", "45.00", 1, "0.00")]},
    # re-saved by Excel: the date lost its seconds and offset, day first
    {**ZA, "name": "#1005", "id": "5301001005", "phone": "'+27825550143",
     "financial": "partially_refunded", "paid_at": "15/03/2024 14:22",
     "fulfillment": "fulfilled", "created": "15/03/2024 14:22", "refunded": "149.00",
     "billing_name": "Sipho Dlamini", "address1": "88 Vilakazi Street", "city": "Soweto",
     "zip": "1804", "province": "GP", "province_name": "Gauteng", "shipping": "99.00",
     "lines": [("MUG-ZA", "Enamel mug", "149.00", 2, "0.00")]},
    {**ZA, "name": "#1006", "id": "5301001006", "email": "lerato.m@example.co.za",
     "financial": "voided", "created": "2024-03-18 09:12", "cancelled_at": "2024-03-18 11:00",
     "billing_name": "Lerato Mokoena", "address1": "5 Florida Road", "city": "Durban",
     "zip": "4001", "province": "NL", "province_name": "KwaZulu-Natal", "shipping": "99.00",
     "lines": [("HONEY-500", "Fynbos honey 500g", "135.00", 1, "0.00")]},
    {**ZA, "name": "#1007", "id": "5301001007", "email": "pieter.vdm@example.co.za",
     "financial": "refunded", "paid_at": "2024/03/20 16:05", "created": "2024/03/20 16:05",
     "refunded": "1398.00", "billing_name": "Pieter van der Merwe",
     "address1": "4 Church Street", "city": "Stellenbosch", "zip": "7600", "province": "WC",
     "province_name": "Western Cape", "shipping": "99.00",
     "lines": [("BILTONG-1KG", "Biltong 1kg", "1299.00", 1, "0.00")]},
    # rejected: no email and only a local phone number (no country code to normalise it)
    {**ZA, "name": "#1008", "id": "5301001008", "billing_phone": "082 555 0199",
     "financial": "paid", "paid_at": "2024-03-22 10:00:00 +0200",
     "created": "2024-03-22 10:00:00 +0200", "billing_name": "Anon Buyer",
     "address1": "1 Main Road", "city": "Pretoria", "zip": "0002", "province": "GP",
     "province_name": "Gauteng", "shipping": "99.00",
     "lines": [("ROOIBOS-250", "Rooibos tea 250g", "89.00", 1, "0.00")]},
    {**ZA, "name": "#1009", "id": "5301001009", "email": "Thandi.Nkosi@Example.co.za",
     "financial": "pending", "created": "2024-04-02 19:45:00 +0200",
     "billing_name": "Thandi Nkosi", "address1": "12 Long Street", "city": "Cape Town",
     "zip": "8001", "province": "WC", "province_name": "Western Cape", "shipping": "99.00",
     "payment": "EFT", "outstanding": "455.00",
     "lines": [("HONEY-500", "Fynbos honey 500g", "135.00", 1, "0.00"),
               ("ROOIBOS-250", "Rooibos tea 250g", "89.00", 1, "0.00"),
               ("SAMPLE-TEA", "Tea sampler", "45.00", 1, "0.00"),
               ("MUG-ZA", "Enamel mug", "149.00", 1, "61.00")]},
]  # fmt: skip

BD = {"country": "BD", "currency": "BDT", "payment": "Cash on Delivery (COD)"}
BDT_ORDERS: list[dict[str, object]] = [
    {**BD, "name": "#2001", "id": "6402001001", "phone": "+8801712345678",
     "billing_phone": "01712-345678", "financial": "pending", "created": "2024-05-04 11:20:00 +0600",
     "billing_name": "Rahim Uddin", "address1": "House 12, Road 5, Dhanmondi", "city": "Dhaka",
     "zip": "1205", "shipping": "60.00", "outstanding": "2510.00",
     "lines": [("PANJABI-M", "Cotton panjabi (M)", "1850.00", 1, "0.00"),
               ("TUPI-1", "Tupi cap", "300.00", 2, "0.00")]},
    {**BD, "name": "#2002", "id": "6402001002", "email": "nusrat.jahan@example.com.bd",
     "phone": "+8801811223344", "financial": "paid", "paid_at": "2024-05-06 15:00:00 +0600",
     "fulfillment": "fulfilled", "created": "2024-05-05 09:10:00 +0600",
     "billing_name": "Nusrat Jahan", "address1": "Flat 3B, Agrabad", "city": "Chattogram",
     "zip": "4100", "shipping": "120.00",
     "lines": [("SAREE-JAM", "Jamdani saree", "6500.00", 1, "0.00")]},
    {**BD, "name": "#2003", "id": "6402001003", "phone": "+8801712345678",
     "financial": "paid", "paid_at": "2024-05-12 18:00:00 +0600", "fulfillment": "fulfilled",
     "created": "12/05/2024 17:05", "billing_name": "Rahim Uddin",
     "address1": "House 12, Road 5, Dhanmondi", "city": "Dhaka", "zip": "1205",
     "shipping": "60.00",
     "lines": [("TUPI-1", "Tupi cap", "300.00", 1, "0.00")]},
    {**BD, "name": "#2004", "id": "6402001004", "phone": "+8801999887766",
     "financial": "voided", "created": "2024-05-13 20:30:00 +0600",
     "cancelled_at": "2024-05-14 10:00:00 +0600", "billing_name": "Karim Hossain",
     "address1": "Zindabazar", "city": "Sylhet", "zip": "3100", "shipping": "120.00",
     "lines": [("PANJABI-M", "Cotton panjabi (M)", "1850.00", 2, "0.00")]},
    # a zero-value replacement order for a damaged item
    {**BD, "name": "#2005", "id": "6402001005", "email": "nusrat.jahan@example.com.bd",
     "financial": "paid", "created": "2024-05-20 10:00:00 +0600", "code": "REPLACEMENT",
     "discount": "6500.00", "payment": "manual", "billing_name": "Nusrat Jahan",
     "address1": "Flat 3B, Agrabad", "city": "Chattogram", "zip": "4100",
     "lines": [("SAREE-JAM", "Jamdani saree", "6500.00", 1, "0.00")]},
    {**BD, "name": "#2006", "id": "6402001006", "phone": "+8801555123456",
     "financial": "refunded", "paid_at": "2024-05-22 13:00:00 +0600", "refunded": "660.00",
     "created": "2024-05-21 12:00:00 +0600", "billing_name": "Farhana Akter",
     "address1": "Shaheb Bazar", "city": "Rajshahi", "zip": "6100", "shipping": "60.00",
     "lines": [("TUPI-1", "Tupi cap", "300.00", 2, "0.00")]},
    # rejected: only a local billing phone, no email and no Phone
    {**BD, "name": "#2007", "id": "6402001007", "billing_phone": "01912-000111",
     "financial": "pending", "created": "2024-05-25 16:40:00 +0600",
     "billing_name": "Guest", "address1": "Mirpur 10", "city": "Dhaka", "zip": "1216",
     "shipping": "60.00",
     "lines": [("TUPI-1", "Tupi cap", "300.00", 1, "0.00")]},
    {**BD, "name": "#2008", "id": "6402001008", "phone": "+8801811223344",
     "email": "nusrat.jahan@example.com.bd", "financial": "authorized",
     "created": "2024-06-01 08:00:00 +0600", "billing_name": "Nusrat Jahan",
     "address1": "Flat 3B, Agrabad", "city": "Chattogram", "zip": "4100", "shipping": "120.00",
     "payment": "bKash",
     "lines": [("PANJABI-M", "Cotton panjabi (M)", "1850.00", 1, "0.00"),
               ("SAREE-JAM", "Jamdani saree", "6500.00", 1, "0.00")]},
]  # fmt: skip

LEGACY_CUSTOMER_COLUMNS = (  # noqa: SIM905
    "First Name,Last Name,Email,Company,Address1,Address2,City,Province,Province Code,Country,"
    "Country Code,Zip,Phone,Accepts Marketing,Total Spent,Total Orders,Tags,Note,Tax Exempt"
).split(",")
LEGACY_CUSTOMERS = [
    ["Thandi", "Nkosi", "thandi.nkosi@example.co.za", "", "12 Long Street", "", "Cape Town",
     "Western Cape", "WC", "South Africa", "ZA", "8001", "", "yes", "516.00", "3", "vip", "",
     "no"],
    ["Pieter", "van der Merwe", "pieter.vdm@example.co.za", "Karoo Biltong (Pty) Ltd",
     "4 Church Street", "", "Stellenbosch", "Western Cape", "WC", "South Africa", "ZA", "7600",
     "", "no", "1169.10", "2", "wholesale, biltong", "Invoice to company", "yes"],
    ["Sipho", "Dlamini", "", "", "88 Vilakazi Street", "", "Soweto", "Gauteng", "GP",
     "South Africa", "ZA", "1804", "+27825550143", "no", "1005.00", "2", "", "", "no"],
    ["Lerato", "Mokoena", "lerato.m@example.co.za", "", "5 Florida Road", "", "Durban",
     "KwaZulu-Natal", "NL", "South Africa", "ZA", "4001", "", "yes", "0.00", "1", "", "",
     "no"],
    # never ordered
    ["Naledi", "Khumalo", "naledi.k@example.co.za", "", "", "", "", "", "", "", "", "", "",
     "yes", "0.00", "0", "newsletter", "", "no"],
    # rejected: a malformed email
    ["Bad", "Email", "bad-email@", "", "", "", "", "", "", "", "", "", "", "no", "0.00", "0",
     "", "", "no"],
]  # fmt: skip

# --- WooCommerce ---------------------------------------------------------------------------------

WOO_COLUMNS = (  # noqa: SIM905
    "order_id,order_number,order_date,paid_date,status,shipping_total,shipping_tax_total,"
    "fee_total,fee_tax_total,tax_total,cart_discount,order_discount,discount_total,order_total,"
    "order_subtotal,order_key,order_currency,payment_method,payment_method_title,transaction_id,"
    "customer_ip_address,customer_user_agent,shipping_method,customer_id,customer_user,"
    "customer_email,billing_first_name,billing_last_name,billing_company,billing_email,"
    "billing_phone,billing_address_1,billing_address_2,billing_postcode,billing_city,"
    "billing_state,billing_country,shipping_first_name,shipping_last_name,shipping_company,"
    "shipping_phone,shipping_address_1,shipping_address_2,shipping_postcode,shipping_city,"
    "shipping_state,shipping_country,customer_note,wt_import_key,shipping_items,fee_items,"
    "tax_items,coupon_items,refund_items,order_notes,download_permissions,line_item_1,"
    "line_item_2,line_item_3"
).split(",")


def woo_orders() -> None:
    people = {
        "emma": ("17", "emma.schmidt@example.de", "Emma", "Schmidt", "+49 30 901820", "DE",
                 "Unter den Linden 5", "10117", "Berlin"),
        "lukas": ("0", "lukas.weber@example.de", "Lukas", "Weber", "", "DE",
                  "Marienplatz 1", "80331", "München"),
        "mia": ("23", "mia.fischer@example.at", "Mia", "Fischer", "+43 1 5129050", "AT",
                "Stephansplatz 3", "1010", "Wien"),
    }  # fmt: skip
    rows = []
    specs = [
        # (number, date, paid, status, who, lines[(id,name,pid,sku,qty,total,sub)], ship, refunds)
        (3101, "2024-01-08 09:12:44", "2024-01-08 09:13:02", "completed", "emma",
         [(11, "Linen apron", 41, "LIN-APRON", 1, "34.00", "34.00"),
          (12, "Tea towel set", 42, "TT-SET", 2, "24.00", "24.00")], "4.90", ""),
        (3102, "2024-01-15 20:01:10", "2024-01-15 20:01:30", "processing", "lukas",
         [(13, "Ceramic bowl", 43, "BOWL-L", 4, "60.00", "64.00")], "4.90", ""),
        (3103, "2024-01-22 07:45:00", "", "on-hold", "mia",
         [(14, "Linen apron", 41, "LIN-APRON", 1, "34.00", "34.00")], "9.90", ""),
        (3104, "2024-02-01 12:00:00", "", "pending", "emma",
         [(15, "Tea towel set", 42, "TT-SET", 1, "12.00", "12.00")], "4.90", ""),
        (3105, "2024-02-03 16:30:00", "", "cancelled", "lukas",
         [(16, "Ceramic bowl", 43, "BOWL-L", 1, "16.00", "16.00")], "4.90", ""),
        (3106, "2024-02-10 10:10:10", "2024-02-10 10:10:40", "refunded", "mia",
         [(17, "Ceramic bowl", 43, "BOWL-L", 2, "32.00", "32.00")], "9.90",
         "id:3190|date:2024-02-14 09:00:00|amount:-41.90|reason:Arrived broken"),
        (3107, "2024-02-11 23:59:00", "", "failed", "emma",
         [(18, "Linen apron", 41, "LIN-APRON", 2, "68.00", "68.00")], "4.90", ""),
        (3108, "2024-03-02 14:00:00", "2024-03-02 14:00:12", "wc-completed", "lukas",
         [(19, "Tea towel set", 42, "TT-SET", 1, "12.00", "12.00"),
          (20, "Linen apron", 41, "LIN-APRON", 1, "34.00", "34.00"),
          (21, "Ceramic bowl", 43, "BOWL-L", 1, "16.00", "16.00")], "0.00",
         "id:3191|date:2024-03-09 11:00:00|amount:-12.00|reason:Changed mind"),
        # rejected: a status a plugin added, which ecomcrm cannot place
        (3109, "2024-03-05 08:00:00", "2024-03-05 08:00:05", "wc-awaiting-shipment", "mia",
         [(22, "Tea towel set", 42, "TT-SET", 1, "12.00", "12.00")], "9.90", ""),
        (3110, "2024-03-09 18:18:18", "2024-03-09 18:18:40", "completed", "mia",
         [(23, "Linen apron", 41, "LIN-APRON", 1, "34.00", "34.00")], "9.90", ""),
    ]  # fmt: skip
    for number, date, paid, status, who, lines, ship, refunds in specs:
        uid, email, first, last, phone, country, street, zip_, city = people[who]
        items = [
            f"id:{i}|name:{n}|product_id:{p}|sku:{s}|quantity:{q}|total:{t}|sub_total:{st}"
            f"|tax:0.00|meta:"
            for i, n, p, s, q, t, st in lines
        ]
        line_sum = sum(Decimal(t) for *_, t, _ in lines)
        sub_sum = sum(Decimal(st) for *_, st in lines)
        total = line_sum + Decimal(ship)
        row = dict.fromkeys(WOO_COLUMNS, "")
        row.update({
            "order_id": str(number), "order_number": str(number), "order_date": date,
            "paid_date": paid, "status": status, "shipping_total": ship,
            "shipping_tax_total": "0.00", "fee_total": "0.00", "fee_tax_total": "0.00",
            "tax_total": "0.00", "cart_discount": _money(sub_sum - line_sum),
            "order_discount": "0.00", "discount_total": _money(sub_sum - line_sum),
            "order_total": _money(total), "order_subtotal": _money(sub_sum),
            "order_key": f"wc_order_{number}k", "order_currency": "EUR",
            "payment_method": "stripe", "payment_method_title": "Credit card",
            "transaction_id": f"pi_{number}" if paid else "", "customer_ip_address": "198.51.100.4",
            "customer_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "shipping_method": "flat_rate", "customer_id": uid, "customer_user": uid,
            "customer_email": email, "billing_first_name": first, "billing_last_name": last,
            "billing_email": email, "billing_phone": phone, "billing_address_1": street,
            "billing_postcode": zip_, "billing_city": city, "billing_country": country,
            "shipping_first_name": first, "shipping_last_name": last,
            "shipping_address_1": street, "shipping_postcode": zip_, "shipping_city": city,
            "shipping_country": country,
            "shipping_items": f"id:1|method_id:flat_rate|method_title:Flat rate|total:{ship}",
            "coupon_items": "id:5|code:bowl4|amount:4.00" if sub_sum != line_sum else "",
            "refund_items": refunds,
        })  # fmt: skip
        for k, text in enumerate(items, start=1):
            row[f"line_item_{k}"] = text
        rows.append(row)
    with open(HERE / "woocommerce_orders_export.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, WOO_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


# --- RudderStack ---------------------------------------------------------------------------------


def rudder(
    kind: str,
    at: str,
    mid: str,
    *,
    event: str | None = None,
    user: str | None = None,
    anon: str | None = None,
    props: dict[str, object] | None = None,
    traits: dict[str, object] | None = None,
    sdk: str = "RudderLabs JavaScript SDK",
) -> dict[str, object]:
    msg: dict[str, object] = {"type": kind}
    if event is not None:
        msg["event"] = event
    if props is not None:
        msg["properties"] = props
    if user is not None:
        msg["userId"] = user
    msg["anonymousId"] = anon
    msg["messageId"] = mid
    msg["rudderId"] = f"rdr-{mid[-6:]}"
    msg["channel"] = "web" if "JavaScript" in sdk else "server"
    context: dict[str, object] = {"library": {"name": sdk, "version": "3.0.1"},
                                  "locale": "en-GB"}  # fmt: skip
    if traits:
        context["traits"] = traits
    msg["context"] = context
    msg["originalTimestamp"] = at
    msg["sentAt"] = at
    msg["receivedAt"] = at.replace("Z", "+00:00")
    msg["timestamp"] = at
    msg["integrations"] = {"All": True}
    return msg


def rudderstack_jsonl() -> None:
    ada = {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"}
    tee = {"product_id": "507f1f77", "sku": "TEE-M", "name": "Classic Tee", "price": 20.0,
           "quantity": 2, "category": "Apparel"}  # fmt: skip
    mug = {"product_id": "507f1f78", "sku": "MUG-1", "name": "Coffee Mug", "price": 12.5,
           "quantity": 1, "category": "Kitchen"}  # fmt: skip
    messages = [
        rudder("track", "2024-05-01T09:58:12.120Z", "1714557492120-0c1c6a50",
               event="Product Viewed", anon="a9d3c6e0-anon", props={**tee, "quantity": 1}),
        rudder("identify", "2024-05-01T10:03:00.000Z", "1714557780000-6c1e41d2",
               user="u-1001", anon="a9d3c6e0-anon", traits=ada),
        rudder("track", "2024-05-01T10:06:55.500Z", "1714558015500-9a5f0b11",
               event="Order Completed", user="u-1001", anon="a9d3c6e0-anon", traits=ada,
               props={"order_id": "R-50314", "checkout_id": "co-77", "total": 57.5,
                      "revenue": 52.5, "shipping": 5.0, "tax": 0.0, "discount": 0.0,
                      "currency": "USD", "products": [tee, mug]}),
        # the same message delivered twice (a retry): stored once
        rudder("track", "2024-05-01T10:06:55.500Z", "1714558015500-9a5f0b11",
               event="Order Completed", user="u-1001", anon="a9d3c6e0-anon", traits=ada,
               props={"order_id": "R-50314", "checkout_id": "co-77", "total": 57.5,
                      "revenue": 52.5, "shipping": 5.0, "tax": 0.0, "discount": 0.0,
                      "currency": "USD", "products": [tee, mug]}),
        # a server-side source that spells the event in lower case, revenue and no total
        rudder("track", "2024-05-09T14:20:00.000Z", "srv-0001-7f2b", event="order completed",
               user="u-2002", traits={"email": "grace@example.com"},
               props={"order_id": "R-50410", "revenue": 30.0, "shipping": 4.0, "tax": 2.4,
                      "currency": "USD",
                      "products": [{"sku": "HOOD-L", "name": "Hoodie", "price": 30.0,
                                    "quantity": 1}]},
               sdk="rudder-analytics-python"),
        # a different event that reuses a messageId (a buggy SDK): not silently dropped
        rudder("track", "2024-05-09T14:21:30.000Z", "srv-0001-7f2b", event="Product Reviewed",
               user="u-2002", props={"product_id": "HOOD-L", "rating": 5},
               sdk="rudder-analytics-python"),
        # a partial refund: one of the two tees
        rudder("track", "2024-05-12T08:00:00.000Z", "srv-0002-11aa", event="Order Refunded",
               user="u-1001", props={"order_id": "R-50314", "total": 20.0, "currency": "USD",
                                     "products": [{**tee, "quantity": 1}]},
               sdk="rudder-analytics-python"),
        # a full refund: only the order id
        rudder("track", "2024-05-20T17:45:00.000Z", "srv-0003-11ab", event="order refunded",
               user="u-2002", props={"order_id": "R-50410"}, sdk="rudder-analytics-python"),
        rudder("page", "2024-05-21T07:00:00.000Z", "1716274800000-page01", anon="b1-anon",
               props={"path": "/", "url": "https://shop.example.com/"}),
        rudder("track", "2024-05-22T12:00:00.000Z", "1716379200000-ord03",
               event="Order Completed", user="u-3003", traits={"phone": "+44 20 7946 0958"},
               props={"order_id": "R-50522", "total": 12.5, "currency": "USD",
                      "products": [mug]}),
        # rejected: an order with neither total, revenue nor products
        rudder("track", "2024-05-23T12:00:00.000Z", "1716465600000-ord04",
               event="Order Completed", user="u-3003", props={"order_id": "R-50523"}),
    ]  # fmt: skip
    with open(HERE / "rudderstack_segment.jsonl", "w", encoding="utf-8") as f:
        for msg in messages:
            f.write(json.dumps(msg, ensure_ascii=False) + "\n")


def main() -> None:
    uci_online_retail(random.Random(20101201))
    write_shopify(HERE / "shopify_orders_zar.csv", ZAR_ORDERS)
    write_shopify(HERE / "shopify_orders_bdt.csv", BDT_ORDERS)
    with open(HERE / "shopify_customers_legacy.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(LEGACY_CUSTOMER_COLUMNS)
        w.writerows(LEGACY_CUSTOMERS)
    woo_orders()
    rudderstack_jsonl()


if __name__ == "__main__":
    main()
