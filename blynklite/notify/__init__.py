"""Senders for notifications: mail (SMTP), push (FCM legacy, FCM HTTP v1, ntfy), SMS (Nexmo/Vonage)
and tweets (OAuth 1.0a). Each is a blocking function run on a worker thread; none touches the
reactor, a connection or the model: plain inputs in, a return value or an exception out
(MailError, PushError, SmsError, TwitterError). `blynklite/notifier.py` decides what to send and when.

Settings (defaults in brackets):

mail.properties (JavaMail key names, as upstream)
  mail.smtp.host, mail.smtp.port [587, or 465 with ssl.enable], mail.smtp.auth [true],
  mail.smtp.username, mail.smtp.password, mail.smtp.starttls.enable [true: used when offered],
  mail.smtp.starttls.required [false], mail.smtp.ssl.enable [false: implicit TLS, e.g. port 465],
  mail.smtp.connectiontimeout [30000 ms], mail.smtp.timeout [120000 ms],
  mail.from [the username; {PRODUCT_NAME} replaced], mail.smtp.localhost [this host's FQDN: EHLO name],
  mail.smtp.ssl.trust [none: `*` or hosts whose certificate is accepted unchecked],
  mail.smtp.ssl.checkserveridentity [true: the name in the certificate must match the host],
  mail.smtp.ssl.cafile [system CAs: a CA file for a private server's certificate; blynklite's own key].
  Not configured while mail.smtp.host is empty or the username is the shipped example@gmail.com
  with no password.

gcm.properties (push)
  push.provider = fcm-legacy | fcm-v1 | ntfy | none [fcm-legacy when gcm.server and gcm.api.key are
  set, else none]
  fcm-legacy: gcm.server [https://fcm.googleapis.com/fcm/send], gcm.api.key
  fcm-v1: fcm.service.account (path of the service-account JSON key file),
    fcm.endpoint [https://fcm.googleapis.com/v1/projects/{project_id}/messages:send],
    fcm.token.uri [the file's token_uri, else https://oauth2.googleapis.com/token]
  ntfy: ntfy.url (e.g. https://ntfy.sh or a local server), ntfy.topic, ntfy.token [none: bearer token]
  notification.title [{PRODUCT_NAME} Notification], notification.body [Your {DEVICE_NAME} went offline.]

sms.properties: nexmo.api.key, nexmo.api.secret, nexmo.url [https://rest.nexmo.com/sms/json],
  nexmo.from [Blynk].
  SMS over e-mail, without Nexmo: many carriers turn a mail to `<number>@<carrier's gateway domain>`
  into an SMS. Put a Mail widget in the project with that address in its `to` field (content type
  plain text) and call Blynk.email(...) instead of Blynk.sms(...); it leaves through
  mail.properties like any other mail.

twitter4j.properties: oauth.consumerKey, oauth.consumerSecret,
  twitter.url [https://api.twitter.com/1.1/statuses/update.json]; the user's token and secret are in
  the Twitter widget.
"""
