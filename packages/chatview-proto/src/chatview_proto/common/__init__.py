"""Types shared by every ChatView service (proto package ``chatview.common``)."""
