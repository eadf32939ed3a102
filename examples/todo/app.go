package main

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"os"
	"strings"
	"time"
)

type app struct {
	store *store
	node  string
}

func newApp(s *store) *app {
	node := os.Getenv("LABFLEET_NODE")
	if node == "" {
		node, _ = os.Hostname()
	}
	return &app{store: s, node: node}
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(version)) })
	mux.HandleFunc("GET /items", a.listJSON)
	mux.HandleFunc("POST /items", a.add)
	mux.HandleFunc("GET /{$}", a.index)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", a.node)
		w.Header().Set("X-Version", version)
		mux.ServeHTTP(w, r)
	})
}

func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.ping(ctx); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok"))
}

func (a *app) listJSON(w http.ResponseWriter, r *http.Request) {
	items, err := a.store.list(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if items == nil {
		items = []Item{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(items)
}

// add takes a form field or a JSON body {"title": "..."}.
func (a *app) add(w http.ResponseWriter, r *http.Request) {
	title := r.FormValue("title")
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var in struct{ Title string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil {
			http.Error(w, "want {\"title\": \"...\"}", http.StatusBadRequest)
			return
		}
		title = in.Title
	}
	title = strings.TrimSpace(title)
	if title == "" || len(title) > 200 {
		http.Error(w, "title must be 1-200 characters", http.StatusBadRequest)
		return
	}
	it, err := a.store.add(r.Context(), title)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(it)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

var page = template.Must(template.New("index").Parse(`<!doctype html>
<title>labfleet to-do</title>
<h1>To-do</h1>
<p>Served by <b>{{.Node}}</b>, version <b>{{.Version}}</b>.</p>
<form method="post" action="/items"><input name="title" autofocus> <button>Add</button></form>
<ul>{{range .Items}}<li>{{.Title}}</li>{{end}}</ul>
`))

func (a *app) index(w http.ResponseWriter, r *http.Request) {
	items, err := a.store.list(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	page.Execute(w, struct {
		Node, Version string
		Items         []Item
	}{a.node, version, items})
}
