"""Senders for notifications: mail (SMTP), push (FCM legacy, FCM HTTP v1, ntfy), SMS (Nexmo/Vonage)
and tweets (OAuth 1.0a). Each is a blocking function run on a worker thread; none touches the
reactor, a connection or the model. `blynklite/notifier.py` decides what to send and when.

Settings, read from files in the working directory (mail and SMS also from -mailConfig/-smsConfig):

mail.properties (JavaMail keys, as upstream)
  mail.smtp.host, mail.smtp.port (587), mail.smtp.auth (true), mail.smtp.username, mail.smtp.password,
  mail.smtp.starttls.enable (true; used when the server offers it), mail.smtp.starttls.required (false),
  mail.smtp.ssl.enable (false; implicit TLS, usually port 465), mail.smtp.connectiontimeout and
  mail.smtp.timeout (ms), mail.from (sender; {PRODUCT_NAME} replaced; default the username),
  mail.smtp.ssl.trust (`*` or the host name: accept its certificate unchecked, as JavaMail does),
  mail.smtp.ssl.cafile (blynklite: a CA file to check a private server's certificate with).

gcm.properties (push)
  push.provider = fcm-legacy | fcm-v1 | ntfy | none (default: fcm-legacy when gcm.server and
  gcm.api.key are set, else none)
  fcm-legacy: gcm.server (https://fcm.googleapis.com/fcm/send), gcm.api.key
  fcm-v1: fcm.service.account (the service-account JSON file), fcm.endpoint (default
  https://fcm.googleapis.com/v1/projects/{project_id}/messages:send), fcm.token.uri (default: the
  file's token_uri)
  ntfy: ntfy.url (e.g. https://ntfy.sh or a local ntfy server), ntfy.topic, ntfy.token (optional)
  notification.title ({PRODUCT_NAME} Notification), notification.body (offline text)

sms.properties: nexmo.api.key, nexmo.api.secret, nexmo.url (https://rest.nexmo.com/sms/json),
  nexmo.from (Blynk).
  SMS over e-mail: many carriers deliver a mail to `<number>@<carrier gateway>` as an SMS. Put a Mail
  widget in the project with that address in its `to` field and call Blynk.email(...) instead of
  Blynk.sms(...); it goes out through mail.properties like any other mail.

twitter4j.properties: oauth.consumerKey, oauth.consumerSecret, twitter.url
  (https://api.twitter.com/1.1/statuses/update.json); the user's token and secret are in the
  Twitter widget.
"""
