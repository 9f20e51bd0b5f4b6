## Runtime of the iogo GDScript (Godot 4) client SDK, written by
## `iogo gen -lang gd`. Do not edit; regenerate.
##
## An IogoClient holds one WebSocket to an iogo external server. Call poll()
## every frame (from _process); requests are correlated by msgId and awaited
## (`var r := await DemoApi.hello(client, req)`), each completing with an
## IogoClient.Result; pushes go to listeners registered per route; a
## heartbeat keeps the connection open.
##
## Checked by golden files only: there is no Godot in iogo's CI.
class_name IogoClient
extends RefCounted

## Emitted with error answers no request waits for (failed void routes,
## kicks, idle timeouts).
signal error_received(code: int, msg: String, msg_id: int)

## Request timeout in seconds.
var timeout_sec := 10.0
## Heartbeat interval in seconds; 0 disables.
var heartbeat_sec := 20.0

var _ws := WebSocketPeer.new()
var _pending := {}
var _listeners := {}
var _next_id := 1
var _since_beat := 0.0


## Result is the outcome of a request: ok, or the error code and message.
class Result:
	extends RefCounted
	var ok := false
	var code := 0
	var msg := ""
	var data := PackedByteArray()
	## value is the decoded response, set by the generated functions.
	var value = null


## _Call is one request in flight.
class _Call:
	extends RefCounted
	signal done(result: Result)
	var deadline := 0.0


## merge returns the merged route, cmd << 16 | sub.
static func merge(cmd: int, sub: int) -> int:
	return (cmd << 16) | (sub & 0xffff)


## connect_to_url dials url (ws://host:port/websocket); poll until is_open().
func connect_to_url(url: String) -> Error:
	return _ws.connect_to_url(url)


func is_open() -> bool:
	return _ws.get_ready_state() == WebSocketPeer.STATE_OPEN


## close closes the connection and fails the pending requests.
func close() -> void:
	_ws.close()
	_fail_all("iogo: connection closed")


## poll reads frames, fires timeouts and sends heartbeats; call it every frame.
func poll(delta: float) -> void:
	_ws.poll()
	if _ws.get_ready_state() == WebSocketPeer.STATE_CLOSED:
		_fail_all("iogo: connection closed")
		return
	if not is_open():
		return
	while _ws.get_available_packet_count() > 0:
		_dispatch(IogoProto.decode_envelope(_ws.get_packet()))
	_since_beat += delta
	if heartbeat_sec > 0 and _since_beat >= heartbeat_sec:
		_since_beat = 0.0
		_ws.send(IogoProto.encode_envelope(0, 0, PackedByteArray(), 0))
	var now := Time.get_ticks_msec() / 1000.0
	for id in _pending.keys():
		var c: _Call = _pending[id]
		if now >= c.deadline:
			_pending.erase(id)
			var r := Result.new()
			r.code = -1
			r.msg = "iogo: request timed out"
			c.done.emit(r)


## request sends raw payload bytes to route (cmd, sub); await it for a Result.
func request(cmd: int, sub: int, data: PackedByteArray) -> Result:
	var id := _new_id()
	var c := _Call.new()
	c.deadline = Time.get_ticks_msec() / 1000.0 + timeout_sec
	_pending[id] = c
	var err := _ws.send(IogoProto.encode_envelope(1, merge(cmd, sub), data, id))
	if err != OK:
		_pending.erase(id)
		var r := Result.new()
		r.code = -1
		r.msg = "iogo: send failed: %s" % error_string(err)
		return r
	return await c.done


## send sends to a request/void route and returns the msgId; a failure is
## emitted as error_received.
func send(cmd: int, sub: int, data: PackedByteArray) -> int:
	var id := _new_id()
	_ws.send(IogoProto.encode_envelope(1, merge(cmd, sub), data, id))
	return id


## on_push calls fn with the raw payload of each push on route (cmd, sub).
func on_push(cmd: int, sub: int, fn: Callable) -> void:
	var key := merge(cmd, sub)
	if not _listeners.has(key):
		_listeners[key] = []
	_listeners[key].append(fn)


## off_push removes a listener added with on_push.
func off_push(cmd: int, sub: int, fn: Callable) -> void:
	var key := merge(cmd, sub)
	if _listeners.has(key):
		_listeners[key].erase(fn)


func _new_id() -> int:
	while true:
		var id := _next_id
		_next_id = 1 if _next_id >= 0x7fffffff else _next_id + 1
		if not _pending.has(id):
			return id
	return 0


func _dispatch(m: Dictionary) -> void:
	if m.cmd_code == 0 and m.status == 0:
		return
	if m.msg_id != 0 and _pending.has(m.msg_id):
		var c: _Call = _pending[m.msg_id]
		_pending.erase(m.msg_id)
		var r := Result.new()
		r.ok = m.status == 0
		r.code = m.status
		r.msg = m.valid_msg
		r.data = m.data
		c.done.emit(r)
		return
	if m.status != 0:
		error_received.emit(m.status, m.valid_msg, m.msg_id)
		return
	for fn in _listeners.get(m.cmd_merge, []):
		fn.call(m.data)


func _fail_all(msg: String) -> void:
	var calls := _pending.values()
	_pending.clear()
	for c in calls:
		var r := Result.new()
		r.code = -1
		r.msg = msg
		c.done.emit(r)
