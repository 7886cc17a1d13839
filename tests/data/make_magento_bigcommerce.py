"""Writes the Magento and BigCommerce order exports of tests/data (run once; output committed).

    .venv/bin/python tests/data/make_magento_bigcommerce.py

- ``magento_orders_grid.csv``: Magento 2's admin order grid (Sales > Orders) exported with
  "Export > CSV", the default columns plus the hidden ones ticked under Columns (their labels
  and order as ``sales_order_grid.xml`` declares them). Store time zone Europe/Berlin, base
  currency EUR, GBP and USD store views (purchased totals with their symbol), a 24-hour
  hour with a marker (``14:05:12 PM``, Magento's ``H:i:s A``), rows re-saved by Excel (a
  ``03/03/2024 18:30`` date, a serial day number, an order number without its zeros), a
  zero-value order, a refund, a cancellation, and an order without a customer email.
- ``bigcommerce_orders.csv``: BigCommerce's orders export with the default template (its 56
  columns in order), GBP, USD and EUR orders, ``Product Details`` with commas in names and
  several products, a phone-only guest, a zero-value order, a partial refund, Excel's serial
  dates and scientific-notation phones, and a buyer with no email, phone or id.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).parent

MAGENTO_HEADER = [
    "ID", "Purchase Point", "Purchase Date", "Bill-to Name", "Ship-to Name",
    "Grand Total (Base)", "Grand Total (Purchased)", "Status", "Billing Address",
    "Shipping Address", "Shipping Information", "Customer Email", "Customer Group", "Subtotal",
    "Shipping and Handling", "Customer Name", "Payment Method", "Total Refunded",
]  # fmt: skip

_STORE = "Main Website\nMain Website Store\nDefault Store View"
_UK = "Main Website\nMain Website Store\nUK Store View"
_US = "Main Website\nMain Website Store\nUS Store View"
_ADDR = "Torstraße 1,Berlin,Berlin,10119"

MAGENTO_ROWS = [
    ["000000001", _STORE, "Mar 1, 2024 9:15:02 AM", "Ada Lovelace", "Ada Lovelace", "59.9000",
     "59.9000", "Processing", _ADDR, _ADDR, "Flat Rate - Fixed", "ada@example.com", "General",
     "49.9000", "5.0000", "Ada Lovelace", "Check / Money order", ""],
    ["000000002", _UK, "Mar 2, 2024 14:05:12 PM", "Grace Hopper", "Grace Hopper", "49.1400",
     "£42.00", "Complete", "", "", "Flat Rate - Fixed", "grace@example.co.uk", "General",
     "£37.00", "£5.00", "Grace Hopper", "Check / Money order", "£0.00"],
    ["3", _STORE, "04/03/2024 18:30", "Alan Turing", "Alan Turing", "0", "0",
     "Complete", "", "", "Free Shipping - Free", "alan@example.com", "NOT LOGGED IN", "0",
     "0", "Alan Turing", "Free of charge", ""],
    ["000000004", _STORE, "45355.5", "Ada Lovelace", "Ada Lovelace", "120.0000", "120.0000",
     "Closed", "", "", "Flat Rate - Fixed", "ADA@example.com", "General", "110.0000",
     "10.0000", "Ada Lovelace", "Check / Money order", "20.0000"],
    ["000000005", _STORE, "Mar 5, 2024 11:00:00 AM", "Edsger Dijkstra", "Edsger Dijkstra",
     "15.0000", "15.0000", "Canceled", "", "", "Flat Rate - Fixed", "edsger@example.nl",
     "General", "10.0000", "5.0000", "Edsger Dijkstra", "Check / Money order", ""],
    ["000000006", _STORE, "Mar 6, 2024 8:00:00 AM", "Nobody", "Nobody", "10.0000", "10.0000",
     "Pending", "", "", "", "", "NOT LOGGED IN", "10.0000", "0.0000", "", "", ""],
    ["000000007", _US, "Mar 7, 2024 10:30:00 PM", "Ada Lovelace", "Ada Lovelace", "27.6000",
     "$30.00", "Processing", "", "", "Flat Rate - Fixed", "ada@example.com", "General",
     "$25.00", "$5.00", "Ada Lovelace", "Check / Money order", ""],
    ["000000008", _STORE, "Mar 8, 2024 1:00:00 PM", "Barbara Liskov", "Barbara Liskov",
     "1,234.5000", "1,234.5000", "Pending Payment", "", "", "Flat Rate - Fixed",
     "barbara@example.com", "General", "1,200.0000", "34.5000", "Barbara Liskov",
     "Bank Transfer Payment", ""],
]  # fmt: skip

BIGCOMMERCE_HEADER = [
    "Order ID", "Customer ID", "Customer Name", "Customer Email", "Customer Phone",
    "Order Date", "Order Status", "Subtotal (inc tax)", "Subtotal (ex tax)", "Tax Total",
    "Shipping Cost (inc tax)", "Shipping Cost (ex tax)", "Ship Method",
    "Handling Cost (inc tax)", "Handling Cost (ex tax)", "Store Credit Redeemed",
    "Gift Certificate Amount Redeemed", "Gift Certificate Code",
    "Gift Certificate Expiration Date", "Coupon Details", "Order Total (inc tax)",
    "Order Total (ex tax)", "Payment Method", "Total Quantity", "Total Shipped",
    "Date Shipped", "Order Currency Code", "Exchange Rate", "Order Notes", "Customer Message",
    "Billing First Name", "Billing Last Name", "Billing Company", "Billing Street 1",
    "Billing Street 2", "Billing Suburb", "Billing State", "Billing Zip", "Billing Country",
    "Billing Phone", "Billing Email", "Shipping First Name", "Shipping Last Name",
    "Shipping Company", "Shipping Street 1", "Shipping Street 2", "Shipping Suburb",
    "Shipping State", "Shipping Zip", "Shipping Country", "Shipping Phone", "Shipping Email",
    "Product Details", "Refund Amount", "Channel ID", "Channel Name",
]  # fmt: skip


def _bc(**cells: str) -> list[str]:
    row = dict.fromkeys(BIGCOMMERCE_HEADER, "")
    row.update({"Exchange Rate": "1.0000000000", "Channel ID": "1", "Channel Name": "Store"})
    for key, value in cells.items():
        name = key.replace("__", " (").replace("_", " ")
        name = name + ")" if "(" in name else name
        assert name in row, name
        row[name] = value
    return [row[c] for c in BIGCOMMERCE_HEADER]


def _tee(qty: int, price: str, total: str, name: str = "Tee, organic cotton") -> str:
    return (f"Product ID: 82, Product Qty: {qty}, Product SKU: TEE-M, Product Name: {name}, "
            f"Product Weight: 0.2500, Product Variation Details: Size: M, Colour: Blue, "
            f"Product Unit Price: {price}, Product Total Price: {total}")  # fmt: skip


BIGCOMMERCE_ROWS = [
    _bc(Order_ID="101", Customer_ID="12", Customer_Name="Ada Lovelace",
        Customer_Email="ada@example.com", Customer_Phone="+44 7700 900123",
        Order_Date="03/01/2024", Order_Status="Completed", Subtotal__inc_tax="27.5000",
        Subtotal__ex_tax="25.0000", Tax_Total="3.0000", Shipping_Cost__inc_tax="5.5000",
        Shipping_Cost__ex_tax="5.0000", Order_Total__inc_tax="33.0000",
        Order_Total__ex_tax="30.0000", Order_Currency_Code="GBP", Date_Shipped="03/02/2024",
        Billing_First_Name="Ada", Billing_Last_Name="Lovelace", Billing_Country="United Kingdom",
        Shipping_Street_1="12 St James's Square", Shipping_Suburb="London",
        Shipping_Zip="SW1Y 4JH", Shipping_Country="GB",
        Product_Details=_tee(2, "12.5000", "25.0000"), Refund_Amount="0.0000"),
    _bc(Order_ID="102", Customer_ID="0", Customer_Name="Guest Buyer",
        Customer_Phone="+1 415 555 0134", Order_Date="03/02/2024", Order_Status="Shipped",
        Subtotal__inc_tax="40.0000", Subtotal__ex_tax="40.0000", Tax_Total="0.0000",
        Shipping_Cost__inc_tax="0.0000", Shipping_Cost__ex_tax="0.0000",
        Coupon_Details="Coupon ID: 3, Coupon Code: SPRING, Coupon Value: 5.0000",
        Order_Total__inc_tax="35.0000", Order_Total__ex_tax="35.0000",
        Order_Currency_Code="USD", Billing_Phone="+1 415 555 0134",
        Product_Details=_tee(1, "15.0000", "15.0000") + "|Product ID: 90, Product Qty: 1, "
        "Product SKU: MUG, Product Name: Mug | white, Product Weight: 0.5000, Product Variation "
        "Details: , Product Unit Price: 25.0000, Product Total Price: 25.0000"),
    _bc(Order_ID="103", Customer_ID="31", Customer_Name="Alan Turing",
        Customer_Email="alan@example.com", Order_Date="03/03/2024",
        Order_Status="Awaiting Fulfillment", Subtotal__inc_tax="0.0000",
        Subtotal__ex_tax="0.0000", Tax_Total="0.0000", Order_Total__inc_tax="0.0000",
        Order_Total__ex_tax="0.0000", Order_Currency_Code="EUR",
        Product_Details="Product ID: 7, Product Qty: 1, Product SKU: SAMPLE, Product Name: "
        "Free sample, Product Weight: 0.0100, Product Variation Details: , Product Unit "
        "Price: 0.0000, Product Total Price: 0.0000"),
    _bc(Order_ID="104", Customer_ID="12", Customer_Name="Ada Lovelace",
        Customer_Email="ada@example.com", Order_Date="45360.4166666667",
        Order_Status="Partially Refunded", Subtotal__inc_tax="55.0000",
        Subtotal__ex_tax="50.0000", Tax_Total="5.0000", Shipping_Cost__inc_tax="0.0000",
        Shipping_Cost__ex_tax="0.0000", Order_Total__inc_tax="55.0000",
        Order_Total__ex_tax="50.0000", Order_Currency_Code="GBP",
        Product_Details=_tee(4, "12.5000", "50.0000"), Refund_Amount="10.0000"),
    _bc(Order_ID="105", Customer_ID="44", Customer_Name="Edsger Dijkstra",
        Customer_Email="edsger@example.nl", Order_Date="03/09/2024", Order_Status="Cancelled",
        Subtotal__inc_tax="12.5000", Subtotal__ex_tax="12.5000", Tax_Total="0.0000",
        Order_Total__inc_tax="12.5000", Order_Total__ex_tax="12.5000",
        Order_Currency_Code="EUR", Product_Details=_tee(1, "12.5000", "12.5000")),
    _bc(Order_ID="106", Customer_ID="0", Customer_Name="No One", Order_Date="03/10/2024",
        Order_Status="Pending", Subtotal__inc_tax="12.5000", Subtotal__ex_tax="12.5000",
        Tax_Total="0.0000", Order_Total__inc_tax="12.5000", Order_Total__ex_tax="12.5000",
        Order_Currency_Code="USD", Product_Details=_tee(1, "12.5000", "12.5000")),
    _bc(Order_ID="107", Customer_ID="0", Customer_Name="Grace Hopper",
        Customer_Email="grace@example.com", Customer_Phone="4.47701E+11",
        Order_Date="3/11/2024 16:45", Order_Status="Awaiting Shipment",
        Subtotal__inc_tax="25.0000", Subtotal__ex_tax="25.0000", Tax_Total="0.0000",
        Shipping_Cost__inc_tax="4.9900", Shipping_Cost__ex_tax="4.9900",
        Order_Total__inc_tax="29.9900", Order_Total__ex_tax="29.9900",
        Order_Currency_Code="USD", Product_Details=_tee(2, "12.5000", "25.0000")),
    _bc(Order_ID="108", Customer_ID="0", Customer_Name="Local Phone",
        Customer_Phone="07700 900456", Order_Date="03/12/2024", Order_Status="Completed",
        Subtotal__inc_tax="12.5000", Subtotal__ex_tax="12.5000", Tax_Total="0.0000",
        Order_Total__inc_tax="12.5000", Order_Total__ex_tax="12.5000",
        Order_Currency_Code="GBP", Product_Details=_tee(1, "12.5000", "12.5000")),
]  # fmt: skip


def main() -> None:
    with (HERE / "magento_orders_grid.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(MAGENTO_HEADER)
        writer.writerows(MAGENTO_ROWS)
    with (HERE / "bigcommerce_orders.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(BIGCOMMERCE_HEADER)
        writer.writerows(BIGCOMMERCE_ROWS)


if __name__ == "__main__":
    main()
