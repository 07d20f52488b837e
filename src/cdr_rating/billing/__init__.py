"""Period close: allowances, fees, commitments, taxes, invoices and their lifecycle."""
