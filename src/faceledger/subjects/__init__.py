"""Named subjects, consented watches and their alerts (issue 14, requirements 5 and 6).

- :mod:`.registry`: enrol a named person with example photos under a source with a lawful
  basis; delete one; recognise the faces of a photo against the enrolled subjects.
- :mod:`.watches`: a watch on an enrolled subject with recorded consent (an operator) or on
  oneself (a data subject, through a verified subject token), with an expiry; withdrawal
  deletes its template.
- :mod:`.alerts`: each ingest batch's new faces compared with the active watches; a match
  is an alert, stored, audited and queued for its webhook.
- :mod:`.webhooks`: URL checks against SSRF, HMAC-SHA256 signatures, delivery with retries
  and exponential backoff from the outbox, in a background thread.
- :mod:`.forget`: erasure of a person reaches their enrolments and watches too.

Storage is :mod:`faceledger.store.subjects`; the verbs are on :class:`faceledger.Store`.
"""
