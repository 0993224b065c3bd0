"""The notifier role: alarms that reach a person off the screen (issue 14).

`roster` loads the on-call roster, `escalation` decides who is told what and when (pure),
`sender` delivers through Apprise, `worker` connects them to MQTT.
"""
