package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/celeriac/celeriac/internal/pyjson"
)

var (
	ctxType  = reflect.TypeFor[context.Context]()
	errType  = reflect.TypeFor[error]()
	taskType = reflect.TypeFor[*Task]()
	anyType  = reflect.TypeFor[any]()
)

// Func binds a plain Go function as a Handler. The function may take a
// context.Context first (and then a *Task), followed by its parameters,
// and return (R, error), (R), (error) or nothing. Positional args fill the
// parameters in order; keyword args fill them by the names given in
// paramNames (Go keeps no parameter names at run time). A final variadic
// parameter takes the remaining positional args. Arguments that don't fit
// fail the task with a TypeError, like a Python call would.
//
// Func panics at registration if fn is not such a function.
//
//	mux.Handle("tasks.add", worker.Func(func(ctx context.Context, x, y int) (int, error) {
//		return x + y, nil
//	}, "x", "y"))
func Func(fn any, paramNames ...string) Handler {
	v := reflect.ValueOf(fn)
	t := v.Type()
	if t.Kind() != reflect.Func {
		panic(fmt.Sprintf("worker: Func wants a function, got %T", fn))
	}
	b := &boundFunc{fn: v, variadic: t.IsVariadic()}
	i := 0
	if i < t.NumIn() && t.In(i) == ctxType {
		b.wantCtx = true
		i++
	}
	if i < t.NumIn() && t.In(i) == taskType {
		b.wantTask = true
		i++
	}
	for ; i < t.NumIn(); i++ {
		b.params = append(b.params, t.In(i))
	}
	if len(paramNames) > len(b.params) {
		panic(fmt.Sprintf("worker: Func: %d names for %d parameters", len(paramNames), len(b.params)))
	}
	b.names = paramNames
	b.resIdx, b.errIdx = -1, -1
	switch t.NumOut() {
	case 0:
	case 1:
		if t.Out(0) == errType {
			b.errIdx = 0
		} else {
			b.resIdx = 0
		}
	case 2:
		if t.Out(1) != errType {
			panic("worker: Func: second result must be error")
		}
		b.resIdx, b.errIdx = 0, 1
	default:
		panic("worker: Func: too many results")
	}
	return b
}

type boundFunc struct {
	fn       reflect.Value
	wantCtx  bool
	wantTask bool
	params   []reflect.Type
	names    []string
	variadic bool
	resIdx   int
	errIdx   int
}

func (b *boundFunc) ProcessTask(ctx context.Context, t *Task) (any, error) {
	in, err := b.bind(t)
	if err != nil {
		return nil, err
	}
	if b.wantTask {
		in = append([]reflect.Value{reflect.ValueOf(t)}, in...)
	}
	if b.wantCtx {
		in = append([]reflect.Value{reflect.ValueOf(&ctx).Elem()}, in...)
	}
	var out []reflect.Value
	if b.variadic {
		out = b.fn.CallSlice(in)
	} else {
		out = b.fn.Call(in)
	}
	var res any
	if b.resIdx >= 0 {
		res = out[b.resIdx].Interface()
	}
	if b.errIdx >= 0 {
		if e, _ := out[b.errIdx].Interface().(error); e != nil {
			return res, e
		}
	}
	return res, nil
}

func (b *boundFunc) bind(t *Task) ([]reflect.Value, error) {
	fixed := b.params
	if b.variadic {
		fixed = b.params[:len(b.params)-1]
	}
	args := t.Args
	if len(args) > len(fixed) && !b.variadic {
		return nil, typeError("%s() takes %d positional arguments but %d were given", t.Task, len(fixed), len(args))
	}
	in := make([]reflect.Value, len(b.params))
	set := make([]bool, len(b.params))
	for i := 0; i < len(args) && i < len(fixed); i++ {
		v, err := assign(args[i], fixed[i])
		if err != nil {
			return nil, typeError("%s() argument %d: %v", t.Task, i+1, err)
		}
		in[i], set[i] = v, true
	}
	for name, val := range t.Kwargs {
		idx := -1
		for i, n := range b.names {
			if n == name {
				idx = i
				break
			}
		}
		if idx < 0 || (b.variadic && idx == len(b.params)-1) {
			return nil, typeError("%s() got an unexpected keyword argument '%s'", t.Task, name)
		}
		if set[idx] {
			return nil, typeError("%s() got multiple values for argument '%s'", t.Task, name)
		}
		v, err := assign(val, b.params[idx])
		if err != nil {
			return nil, typeError("%s() argument '%s': %v", t.Task, name, err)
		}
		in[idx], set[idx] = v, true
	}
	for i := range fixed {
		if !set[i] {
			name := strconv.Itoa(i + 1)
			if i < len(b.names) {
				name = "'" + b.names[i] + "'"
			}
			return nil, typeError("%s() missing required positional argument: %s", t.Task, name)
		}
	}
	if b.variadic {
		st := b.params[len(b.params)-1]
		rest := reflect.MakeSlice(st, 0, max(len(args)-len(fixed), 0))
		for i := len(fixed); i < len(args); i++ {
			v, err := assign(args[i], st.Elem())
			if err != nil {
				return nil, typeError("%s() argument %d: %v", t.Task, i+1, err)
			}
			rest = reflect.Append(rest, v)
		}
		in[len(in)-1] = rest
	}
	return in, nil
}

// assign converts a decoded JSON value to type t, with fast paths for the
// common scalar cases and pyjson for the rest.
func assign(v any, t reflect.Type) (reflect.Value, error) {
	if t == anyType {
		if v == nil {
			return reflect.Zero(t), nil
		}
		return reflect.ValueOf(&v).Elem(), nil
	}
	switch x := v.(type) {
	case json.Number:
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n, err := strconv.ParseInt(string(x), 10, t.Bits())
			if err != nil {
				f, ferr := strconv.ParseFloat(string(x), 64)
				if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
					return reflect.Value{}, fmt.Errorf("%s is not a valid %s", x, t)
				}
				n = int64(f)
			}
			r := reflect.New(t).Elem()
			r.SetInt(n)
			return r, nil
		case reflect.Float32, reflect.Float64:
			f, err := strconv.ParseFloat(string(x), t.Bits())
			if err != nil {
				return reflect.Value{}, fmt.Errorf("%s is not a valid %s", x, t)
			}
			r := reflect.New(t).Elem()
			r.SetFloat(f)
			return r, nil
		}
	case string:
		if t.Kind() == reflect.String {
			r := reflect.New(t).Elem()
			r.SetString(x)
			return r, nil
		}
	case bool:
		if t.Kind() == reflect.Bool {
			r := reflect.New(t).Elem()
			r.SetBool(x)
			return r, nil
		}
	}
	p := reflect.New(t)
	if err := convert(v, p.Interface()); err != nil {
		return reflect.Value{}, fmt.Errorf("cannot use %s as %s", pyjson.TypeName(v), t)
	}
	return p.Elem(), nil
}
