package guild

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/store"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	"google.golang.org/protobuf/proto"
)

// Chat sends a chat line from actor to its guild: it is pushed on
// SubChatPush to every online member (the sender too) and, with a
// history, kept among the guild's recent lines. A line over actor's rate
// limit is ErrChatRateLimited, refused before any store access.
func (s *Guilds) Chat(ctx context.Context, actor int64, text string) (*guildpb.ChatMessage, error) {
	if len(text) == 0 || len(text) > MaxChat || !utf8.ValidString(text) {
		return nil, errs.ErrValidation.WithMsg("guild: chat text must be 1.." + strconv.Itoa(MaxChat) + " bytes of UTF-8")
	}
	if wait, ok := s.chat.allow(actor, s.now()); !ok {
		return nil, ErrChatRateLimited.WithMsg("guild: chatting too fast; retry after " + max(wait, time.Millisecond).Round(time.Millisecond).String())
	}
	rec, err := s.myGuild(ctx, actor)
	if err != nil {
		return nil, err
	}
	gid := rec.Guild.Id
	msg := &guildpb.ChatMessage{GuildId: gid, UserId: actor, Text: text, SentAtMs: s.nowMs()}
	if s.cfg.ChatHistory > 0 {
		// On the chat's own executor key, apart from membership changes.
		err := s.serialKey(ctx, chatKey(gid), func(ctx context.Context) error {
			_, err := store.Update(ctx, s.kv, chatKey(gid), func(cur []byte, _ bool) ([]byte, error) {
				h := new(guildpb.ChatHistory)
				if err := proto.Unmarshal(cur, h); err != nil {
					return nil, err
				}
				h.Messages = append(h.Messages, msg)
				if over := len(h.Messages) - s.cfg.ChatHistory; over > 0 {
					h.Messages = h.Messages[over:]
				}
				return encode(h), nil
			})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if s.notify != nil {
		if err := s.notify.PushTo(ctx, memberIDs(rec), Cmd, SubChatPush, msg); err != nil {
			s.log.Warn("push chat", slog.Any("error", err))
		}
	}
	return msg, nil
}

// History returns the recent chat lines of actor's guild, oldest first.
func (s *Guilds) History(ctx context.Context, actor int64) (*guildpb.ChatHistory, error) {
	rec, err := s.myGuild(ctx, actor)
	if err != nil {
		return nil, err
	}
	h := new(guildpb.ChatHistory)
	e, err := s.kv.Get(ctx, chatKey(rec.Guild.Id))
	if errors.Is(err, store.ErrNotFound) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	return h, proto.Unmarshal(e.Value, h)
}

// serialKey runs fn on the executor of key (when there is one).
func (s *Guilds) serialKey(ctx context.Context, key string, fn func(ctx context.Context) error) error {
	if s.exec == nil {
		return fn(ctx)
	}
	var err error
	if werr := s.exec.ExecWait(ctx, key, func(context.Context) { err = fn(ctx) }); werr != nil {
		return werr
	}
	return err
}
