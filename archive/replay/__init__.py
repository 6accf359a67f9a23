"""The archive read back: links into the pywb replay server and the files it reads (server),
and WACZ export (wacz)."""
