"""The MQTT hardware port (spec/commands.md §7, upstream MQTTHardwareServer): MqttSession.

Owns: one MQTT connection's life: CONNECT (e-mail as user name, device token as password), then
PUBLISH on topic `hardware` with a Blynk body, PINGREQ, DISCONNECT. Never does: subscriptions,
QoS acknowledgements or anything sent from the server to the device; the session sits in the
account's hardware list like a binary device, and whatever the server would deliver to it is
dropped (upstream writes Blynk frames into an MQTT encoder, which fails the same way).

Invariant: before a successful CONNECT only CONNECT is read; anything else closes the connection,
as upstream's AlreadyLoggedHandler does. A packet the codec refuses closes the connection only.

Two conscious differences from upstream, both noted in README: PINGREQ is answered with PINGRESP
(upstream echoes PINGREQ, which real clients such as paho-mqtt answer and then time out on), and
a published write is stored under the publishing device (upstream stores it under device id 0).
"""
from ..codec import mqtt
from ..codec.commands import Command
from ..codec.frames import ProtocolError
from ..handlers import pins
from ..handlers.hardware import mark_online
from .binary import RateMeter
from . import login_guard
from ..logger import get_logger
from ..model.watchers import DEVICE

log = get_logger("blynklite.mqtt")

# Upstream sends HARDWARE_CONNECTED for an MQTT device with msgId -1, written as 0xFFFF.
MQTT_CONNECTED_MSG_ID = 0xFFFF
# "aw 1" is the shortest body upstream takes (MqttHardwareLogic); shorter ones are ignored.
MIN_BODY = 4
TOPIC_HARDWARE = "hardware"


class MqttSession:
    __slots__ = ("server", "conn", "decoder", "user", "dash", "device", "user_session", "meter")

    def __init__(self, server, conn):
        self.server = server
        self.conn = conn
        self.decoder = mqtt.MqttDecoder()
        self.user = self.dash = self.device = self.user_session = None
        self.meter = RateMeter(server.reactor.now)
        # Upstream: IdleStateHandler(hard.socket.idle.timeout) for reads, without the 2.3 factor.
        conn.idle_timeout = server.config["hard.socket.idle.timeout"]

    def data_received(self, data):
        try:
            for packet in self.decoder.feed(data):
                if self.conn.closed:
                    return
                self.meter.count += 1
                if self.user is None:
                    self._before_login(packet)
                else:
                    self.server.mqtt_total += 1     # upstream's mqttTotal: every packet after CONNECT
                    HANDLERS.get(packet.type, ignore)(self, packet)
        except ProtocolError as error:
            log.info("%s: %s; closing", self.describe(), error)
            self.conn.abort(str(error))

    def _before_login(self, packet):
        if packet.type == mqtt.CONNECT:
            connect(self, packet)
        else:
            log.debug("%s: MQTT packet %s before CONNECT; closing", self.describe(), packet.type)
            self.conn.close("MQTT packet before CONNECT")

    # -- what the rest of the server may call on a hardware session --------------------------------
    def deliver(self, command, msg_id, body):
        """Nothing goes from the server to an MQTT device (upstream has no such path)."""
        return False

    def send(self, command, msg_id, body=b""):
        pass

    def close(self, reason=None):
        self.conn.close(reason)

    def describe(self):
        who = self.user.email if self.user else "unauthenticated"
        return f"mqtt {who} {self.conn.peer[0]}"

    def connection_lost(self, reason):
        if self.user is not None:
            self.server.device_went_offline(self)


# -- handlers, one per packet type -------------------------------------------------------------------
def connect(session, packet):
    """MqttHardwareLoginHandler: user name = account e-mail (any case), password = device token."""
    username = (packet.username or "").strip().lower()
    token = packet.password.decode("utf-8", "replace") if packet.password is not None else None
    guard, ip = session.server.login_guard, session.conn.peer[0]
    if guard.blocked(login_guard.HARDWARE, ip):
        session.conn.write(mqtt.connack(mqtt.REFUSED_NOT_AUTHORIZED))
        session.conn.close("login blocked")
        return
    ref = session.server.hub.resolve_token(token) if token and packet.username is not None else None
    if ref is None or ref.user.email.lower() != username:
        guard.failed(login_guard.HARDWARE, ip, reason="MQTT login with a wrong e-mail or token")
        session.conn.write(mqtt.connack(mqtt.REFUSED_BAD_USER_NAME_OR_PASSWORD))
        return
    server = session.server
    session.conn.authenticated()
    session.user, session.dash, session.device = ref.user, ref.dash, ref.device
    session.user_session = server.hub.session(ref.user)
    session.user_session.hardware.append(session)
    mark_online(ref.device, server.reactor.wall_ms,
                session.conn.peer[0] if server.config["allow.store.ip"] else None)
    server.hub.mark_dirty(ref.user)
    session.conn.write(mqtt.connack(mqtt.ACCEPTED, session_present=True))
    body = f"{ref.dash.id}-{ref.device.id}".encode()
    for app in session.user_session.apps_seeing(ref.dash.id):
        app.send(Command.HARDWARE_CONNECTED, MQTT_CONNECTED_MSG_ID, body)
    log.info("%s mqtt hardware joined.", ref.user.email)


def publish(session, packet):
    """MqttHardwareLogic: a Blynk body on topic `hardware`; spaces stand for the NUL separators."""
    if packet.topic.lower() != TOPIC_HARDWARE:
        return
    text = packet.payload.decode("utf-8", "replace").replace(" ", "\0")
    if len(text) < MIN_BODY:
        return
    user, dash, device = session.user, session.dash, session.device
    if text[1] == "w":
        parts = text.split("\0", 2)
        if len(parts) < 3 or not parts[0] or not parts[2]:
            return
        try:
            pin_type, pin, value = pins.parse_write(text)
        except Exception:   # malformed writes are ignored without an answer, as upstream
            log.debug("%s: malformed MQTT write %r", session.describe(), text)
            return
        session.server.pin_written(user, dash, device.id, pin_type, pin, value, DEVICE, session)
        dash.updated_at = device.data_received_at = session.server.reactor.wall_ms
        session.server.hub.mark_dirty(user)
    if dash.is_active:
        msg_id = packet.packet_id & 0xFFFF   # QoS 0 has no id: upstream's -1 goes out as 0xFFFF
        session.server.forward_to_apps(user, dash.id, Command.HARDWARE, msg_id,
                                       f"{dash.id}-{device.id}\0{text}".encode("utf-8"))


def pingreq(session, packet):
    session.conn.write(mqtt.pingresp())


def disconnect(session, packet):
    session.conn.close("MQTT DISCONNECT")


def ignore(session, packet):
    """SUBSCRIBE, a second CONNECT and the rest: upstream's handler has no case for them."""
    log.debug("%s: ignoring MQTT packet %s", session.describe(), packet.type)


HANDLERS = {
    mqtt.PUBLISH: publish,
    mqtt.PINGREQ: pingreq,
    mqtt.DISCONNECT: disconnect,
}


PORT_KIND = "mqtt"


def open_listener(server, address, port):
    """The `hardware.mqtt.port` listener: plain TCP, every connection an MqttSession at once."""
    from ..net.connection import Connection
    from ..net.listener import Listener

    def on_accept(sock, peer, kind):
        conn = Connection(server.reactor, sock, peer, kind)
        conn.protocol = MqttSession(server, conn)
        server.connections.add(conn)
    return Listener(server.reactor, address, port, PORT_KIND, on_accept)
