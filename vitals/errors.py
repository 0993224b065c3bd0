"""Errors that mean "a service we need is not there": the CLI prints them as one line."""


class ServiceUnavailable(Exception):
    """A broker or database cannot be reached; the message names the setting to fix."""


class BrokerUnavailable(ServiceUnavailable):
    """The MQTT broker refused or did not answer."""
