"""What orders does, each use case once, whichever door it is asked through: the JSON API,
the site's pages, or an event from another service.

A use case takes the :class:`shared.runtime.Service` (or, inside an event handler, the
consumer's session), calls the domain's rules and the store, and emits in the same
transaction. When the request must change it raises a :class:`shared.usecases.Refused`
kind; ``api/`` answers it as a problem document, ``web/`` as an error on the page, so no
use case names an HTTP status.
"""
