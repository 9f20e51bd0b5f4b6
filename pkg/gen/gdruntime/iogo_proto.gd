## Protobuf wire encoding and ioGame's envelope for the iogo GDScript
## (Godot 4) SDK, written by `iogo gen -lang gd`. Do not edit; regenerate.
##
## Checked by golden files only: there is no Godot in iogo's CI.
class_name IogoProto
extends RefCounted

const VARINT := 0
const I64 := 1
const LEN := 2
const I32 := 5


## Writer appends protobuf fields to buf.
class Writer:
	extends RefCounted
	var buf := PackedByteArray()

	func varint(v: int) -> void:
		while v < 0 or v >= 0x80:
			buf.append((v & 0x7f) | 0x80)
			v = (v >> 7) & 0x01FFFFFFFFFFFFFF
		buf.append(v)

	func tag(field: int, wire_type: int) -> void:
		varint((field << 3) | wire_type)

	func int32(v: int) -> void:
		varint(v)

	func sint32(v: int) -> void:
		varint(((v << 1) ^ (v >> 31)) & 0xFFFFFFFF)

	func sint64(v: int) -> void:
		varint((v << 1) ^ (v >> 63))

	func boolean(v: bool) -> void:
		varint(1 if v else 0)

	func fixed32(v: int) -> void:
		var o := buf.size()
		buf.resize(o + 4)
		buf.encode_u32(o, v & 0xFFFFFFFF)

	func fixed64(v: int) -> void:
		var o := buf.size()
		buf.resize(o + 8)
		buf.encode_s64(o, v)

	func float32(v: float) -> void:
		var o := buf.size()
		buf.resize(o + 4)
		buf.encode_float(o, v)

	func float64(v: float) -> void:
		var o := buf.size()
		buf.resize(o + 8)
		buf.encode_double(o, v)

	func bytes(v: PackedByteArray) -> void:
		varint(v.size())
		buf.append_array(v)

	func string(v: String) -> void:
		bytes(v.to_utf8_buffer())


## Reader reads protobuf fields from buf[pos:end].
class Reader:
	extends RefCounted
	var buf: PackedByteArray
	var pos := 0
	var end := 0

	func _init(b: PackedByteArray, start: int = 0, stop: int = -1) -> void:
		buf = b
		pos = start
		end = b.size() if stop < 0 else stop

	func more() -> bool:
		return pos < end

	func varint() -> int:
		var v := 0
		var shift := 0
		while pos < end and shift < 64:
			var b := buf[pos]
			pos += 1
			v |= (b & 0x7f) << shift
			if b < 0x80:
				return v
			shift += 7
		push_error("iogo: malformed varint")
		pos = end
		return 0

	## tag returns [field number, wire type].
	func tag() -> Array:
		var t := varint()
		return [t >> 3, t & 7]

	func int32() -> int:
		var v := varint() & 0xFFFFFFFF
		return v - 0x100000000 if v >= 0x80000000 else v

	func int64() -> int:
		return varint()

	func sint32() -> int:
		var v := varint() & 0xFFFFFFFF
		return (v >> 1) ^ -(v & 1)

	func sint64() -> int:
		var v := varint()
		return ((v >> 1) & 0x7FFFFFFFFFFFFFFF) ^ -(v & 1)

	func boolean() -> bool:
		return varint() != 0

	func fixed32() -> int:
		var v := buf.decode_u32(pos)
		pos += 4
		return v

	func sfixed32() -> int:
		var v := buf.decode_s32(pos)
		pos += 4
		return v

	func fixed64() -> int:
		var v := buf.decode_s64(pos)
		pos += 8
		return v

	func float32() -> float:
		var v := buf.decode_float(pos)
		pos += 4
		return v

	func float64() -> float:
		var v := buf.decode_double(pos)
		pos += 8
		return v

	func bytes() -> PackedByteArray:
		var n := varint()
		var b := buf.slice(pos, pos + n)
		pos += n
		return b

	func string() -> String:
		return bytes().get_string_from_utf8()

	## sub returns a reader over the next length-delimited field and skips it.
	func sub() -> Reader:
		var n := varint()
		var r := Reader.new(buf, pos, pos + n)
		pos += n
		return r

	func skip(wire_type: int) -> void:
		match wire_type:
			VARINT:
				varint()
			I64:
				pos += 8
			LEN:
				pos += varint()
			I32:
				pos += 4
			_:
				push_error("iogo: unsupported wire type %d" % wire_type)
				pos = end


## encode_envelope encodes an iohao.ExternalMessage.
static func encode_envelope(cmd_code: int, cmd_merge: int, data: PackedByteArray, msg_id: int) -> PackedByteArray:
	var w := Writer.new()
	if cmd_code != 0:
		w.tag(1, VARINT)
		w.int32(cmd_code)
	if cmd_merge != 0:
		w.tag(3, VARINT)
		w.int32(cmd_merge)
	if data.size() > 0:
		w.tag(6, LEN)
		w.bytes(data)
	if msg_id != 0:
		w.tag(7, VARINT)
		w.int32(msg_id)
	return w.buf


## decode_envelope decodes an iohao.ExternalMessage into a Dictionary with
## cmd_code, cmd_merge, status, valid_msg, data and msg_id.
static func decode_envelope(b: PackedByteArray) -> Dictionary:
	var m := {"cmd_code": 0, "cmd_merge": 0, "status": 0, "valid_msg": "", "data": PackedByteArray(), "msg_id": 0}
	var r := Reader.new(b)
	while r.more():
		var t := r.tag()
		match t[0]:
			1:
				m.cmd_code = r.int32()
			3:
				m.cmd_merge = r.int32()
			4:
				m.status = r.sint32()
			5:
				m.valid_msg = r.string()
			6:
				m.data = r.bytes()
			7:
				m.msg_id = r.int32()
			_:
				r.skip(t[1])
	return m


## Bare values in ioGame's wrappers (field 1 of iohao.*Value).
static func encode_bare(kind: String, v) -> PackedByteArray:
	var w := Writer.new()
	match kind:
		"int32":
			w.tag(1, VARINT)
			w.sint32(v)
		"int64":
			w.tag(1, VARINT)
			w.sint64(v)
		"bool":
			w.tag(1, VARINT)
			w.boolean(v)
		"string":
			w.tag(1, LEN)
			w.string(v)
		"int32_list", "int64_list", "bool_list":
			if v.size() > 0:
				var p := Writer.new()
				for x in v:
					if kind == "int32_list":
						p.sint32(x)
					elif kind == "int64_list":
						p.sint64(x)
					else:
						p.boolean(x)
				w.tag(1, LEN)
				w.bytes(p.buf)
		"string_list":
			for x in v:
				w.tag(1, LEN)
				w.string(x)
		"bytes":
			return v
	return w.buf


static func decode_bare(kind: String, b: PackedByteArray):
	if kind == "bytes":
		return b
	var r := Reader.new(b)
	var out = [] if kind.ends_with("_list") else null
	while r.more():
		var t := r.tag()
		if t[0] != 1:
			r.skip(t[1])
			continue
		var src := r
		var packed := t[1] == LEN and kind != "string" and kind != "string_list"
		if packed:
			src = r.sub()
		while true:
			var x
			match kind:
				"int32", "int32_list":
					x = src.sint32()
				"int64", "int64_list":
					x = src.sint64()
				"bool", "bool_list":
					x = src.boolean()
				_:
					x = src.string()
			if out is Array:
				out.append(x)
			else:
				out = x
			if not packed or not src.more():
				break
	if out == null:
		match kind:
			"int32", "int64":
				return 0
			"bool":
				return false
			"string":
				return ""
	return out
