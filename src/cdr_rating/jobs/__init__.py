"""Jobs: the only code that holds the settings, the ledger and the data directory
together. Each job is a list of short steps over the pure stages (``billing``,
``rating``, ``cdrs``, ``sheets``): the nightly run (``nightly``), closing a period and
previewing invoices (``close``), re-rating (``rerate``), explaining a stored call
(``explain``) and the invoice commands (``invoices``). ``month`` works through a stored
month in slices of accounts; ``setup`` loads sheets, accounts and fees."""
