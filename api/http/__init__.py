"""The API's HTTP plumbing shared by every room: one JSON encoder and the request id on every answer."""
