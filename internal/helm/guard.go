package helm

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync/atomic"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// helmOwned are the template functions the engine defines itself, or defines over Sprig's: guardedFuncs leaves
// them alone, since a custom function replaces the engine's (include and tpl close over the template being
// rendered; env, expandenv and getHostByName are removed or emptied by the engine and must stay so).
// Read from helm.sh/helm/v4 pkg/engine/funcs.go (funcMap) and engine.go (initFunMap) at v4.3.2.
var helmOwned = map[string]bool{
	"env": true, "expandenv": true, "getHostByName": true,
	"include": true, "tpl": true, "required": true, "fail": true, "lookup": true,
	"toToml": true, "mustToToml": true, "fromToml": true,
	"toYaml": true, "mustToYaml": true, "toYamlPretty": true, "fromYaml": true, "fromYamlArray": true,
	"toJson": true, "mustToJson": true, "fromJson": true, "fromJsonArray": true,
	"mustToDuration": true, "durationSeconds": true, "durationMilliseconds": true, "durationMicroseconds": true,
	"durationNanoseconds": true, "durationMinutes": true, "durationHours": true, "durationDays": true,
	"durationWeeks": true, "durationRoundTo": true, "durationTruncateTo": true,
}

// sized says, for a Sprig function whose arguments decide how much it allocates, how many bytes (or list
// elements, counted as 8 bytes) a call would build. A hostile chart otherwise gets the process killed for lack
// of memory with one call (until 10000000000, repeat, indent), which no timeout can catch.
var sized = map[string]func(args []reflect.Value) float64{
	"until": func(a []reflect.Value) float64 { return 8 * math.Abs(float64(a[0].Int())) },
	"untilStep": func(a []reflect.Value) float64 {
		return 8 * steps(float64(a[0].Int()), float64(a[1].Int()), float64(a[2].Int()))
	},
	"seq": func(a []reflect.Value) float64 {
		params := a[0] // variadic: one []int
		arg := func(i int) float64 { return float64(params.Index(i).Int()) }
		var start, end, step float64 = 1, 0, 1
		switch params.Len() {
		case 1:
			end = arg(0)
		case 2:
			start, end = arg(0), arg(1)
		case 3:
			start, step, end = arg(0), arg(1), arg(2)
		}
		if step == 0 {
			step = 1
		}
		return 21 * (math.Abs(end-start)/math.Abs(step) + 1) // up to 20 digits and a space each
	},
	"repeat": func(a []reflect.Value) float64 { return float64(a[0].Int()) * float64(len(a[1].String())) },
	"indent": func(a []reflect.Value) float64 {
		return float64(a[0].Int())*float64(strings.Count(a[1].String(), "\n")+1) + float64(len(a[1].String()))
	},
	"nindent": func(a []reflect.Value) float64 {
		return float64(a[0].Int())*float64(strings.Count(a[1].String(), "\n")+2) + float64(len(a[1].String()))
	},
	"randAlphaNum": firstInt, "randAlpha": firstInt, "randAscii": firstInt, "randNumeric": firstInt,
	"randBytes": func(a []reflect.Value) float64 { return 2 * firstInt(a) }, // base64
}

func firstInt(a []reflect.Value) float64 { return math.Abs(float64(a[0].Int())) }

// steps is how many elements Sprig's untilStep(start, stop, step) returns.
func steps(start, stop, step float64) float64 {
	switch {
	case stop < start && step < 0:
		return math.Ceil((start - stop) / -step)
	case stop > start && step > 0:
		return math.Ceil((stop - start) / step)
	}
	return 0
}

// builtFactor bounds what the sized functions may build in all during one render, as a multiple of MaxOutput:
// nindent and include nest, so a chart's total can exceed its output several times over, but a loop of calls
// each under the limit (range until 1000000 → repeat 60000000) cannot go on.
const builtFactor = 16

// guardedFuncs wraps every Sprig function the engine takes from Sprig unchanged: before it runs, the wrapper
// stops the render (a panic, which text/template turns into the template's error) once stop is set or ctx is
// done, or when the call would build more than max bytes, or the sized calls of the render more than
// builtFactor×max in all.
func guardedFuncs(ctx context.Context, stop *atomic.Bool, max int64) template.FuncMap {
	out := template.FuncMap{}
	built := new(atomic.Int64)
	for name, fn := range sprig.TxtFuncMap() {
		if helmOwned[name] {
			continue
		}
		out[name] = guard(name, fn, ctx, stop, max, built)
	}
	return out
}

func guard(name string, fn any, ctx context.Context, stop *atomic.Bool, max int64, built *atomic.Int64) any {
	v := reflect.ValueOf(fn)
	t := v.Type()
	size := sized[name]
	return reflect.MakeFunc(t, func(args []reflect.Value) []reflect.Value {
		if stop.Load() || ctx.Err() != nil {
			stop.Store(true)
			panic(ErrRenderTimeout)
		}
		if size != nil {
			n := size(args)
			if n > float64(max) {
				panic(fmt.Errorf("%w: %s would build %.0f bytes, more than the limit of %d", ErrTooLarge, name, n, max))
			}
			if total := built.Add(int64(n)); total > builtFactor*max {
				panic(fmt.Errorf("%w: the template functions have built %d bytes, more than %d times the output limit of %d", ErrTooLarge, total, builtFactor, max))
			}
		}
		if t.IsVariadic() {
			return v.CallSlice(args)
		}
		return v.Call(args)
	}).Interface()
}
