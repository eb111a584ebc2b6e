"""Reporting's use cases: projecting each event into the anonymous figures, publishing the
figures with every disclosure rule applied (JSON, CSV and the page alike), rebuilding them
from the event log, and erasing order ids once they are no longer needed."""
