package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
)

// cmdRegion is the cmd of the external-region test routes.
const cmdRegion int32 = 31

// Routes of cmd 31: they call region actions on the gates.
const (
	regionSessions   int32 = 0 // public: → []string "gate=sessions" from every gate, sorted
	regionMine       int32 = 1 // login: → int64 sessions on the caller's own gate
	regionAllBizCode int32 = 2 // public: int32 bizCode → []string "gate=code" (0 on success) from every gate
)

// regionQuiet is generous: the test machine is loaded, and the call's
// wall time is not what the tests measure.
const regionQuiet = time.Second

// registerRegion registers the routes of the external-region tests.
func registerRegion(r *route.Router) {
	g := r.Group(cmdRegion)
	route.Handle(g, regionSessions, func(c *logic.Ctx, _ string) ([]string, error) {
		res, err := logic.RegionCallAll[string, int64](c.Context(), c, fabric.BizSessions, "", logic.RegionQuiet(regionQuiet))
		if err != nil {
			return nil, err
		}
		var out []string
		for _, rep := range res.Replies {
			if rep.Err != nil {
				out = append(out, fmt.Sprintf("%s=error %v", rep.Instance, rep.Err))
				continue
			}
			out = append(out, fmt.Sprintf("%s=%d", rep.Instance, rep.Value))
		}
		for _, id := range res.Missing {
			out = append(out, id+"=missing")
		}
		slices.Sort(out)
		return out, nil
	}, route.Public())
	route.Handle(g, regionMine, func(c *logic.Ctx, _ string) (int64, error) {
		return logic.RegionCallUser[string, int64](c.Context(), c, c.UserID(), fabric.BizSessions, "")
	})
	route.Handle(g, regionAllBizCode, func(c *logic.Ctx, biz int32) ([]string, error) {
		res, err := logic.RegionCallAll[string, int64](c.Context(), c, biz, "", logic.RegionQuiet(regionQuiet))
		if err != nil {
			return nil, err
		}
		var out []string
		for _, rep := range res.Replies {
			out = append(out, fmt.Sprintf("%s=%d", rep.Instance, errs.Code(rep.Err)))
		}
		slices.Sort(out)
		return out, nil
	}, route.Public())
}
