/*
 * chdb-query runs SQL statements through chDB (ClickHouse as a library, libchdb.so) for Vigil's SQL check
 * (internal/sqlcheck). It loads the library with dlopen, so it builds with a plain C compiler and no chDB header:
 *
 *     chdb-query /path/to/libchdb.so /path/to/session-dir < statements
 *
 * Statements arrive on standard input, each ended by a NUL byte, and run in order in one session whose data lives in
 * session-dir. For each statement it writes a frame to standard output: "OK <n>\n" or "ERR <n>\n", then n bytes
 * (the result in TabSeparated, or the error message). Exit status 0 once standard input ends; 2 when the library or
 * the session cannot be had.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* chDB's C API (chdb.h), used through opaque pointers. */
typedef void **(*connect_fn)(int argc, char **argv);
typedef void (*close_fn)(void **conn);
typedef void *(*query_fn)(void *conn, const char *query, const char *format);
typedef void (*destroy_fn)(void *result);
typedef char *(*buffer_fn)(void *result);
typedef size_t (*length_fn)(void *result);
typedef const char *(*error_fn)(void *result);

static void *sym(void *lib, const char *name) {
	void *p = dlsym(lib, name);
	if (p == NULL) {
		fprintf(stderr, "chdb-query: %s: %s\n", name, dlerror());
		exit(2);
	}
	return p;
}

static void frame(const char *kind, const char *data, size_t n) {
	printf("%s %zu\n", kind, n);
	fwrite(data, 1, n, stdout);
	fflush(stdout);
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: chdb-query LIBCHDB SESSION_DIR < statements (each ended by NUL)\n");
		return 2;
	}
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "chdb-query: %s\n", dlerror());
		return 2;
	}
	connect_fn chdb_connect = (connect_fn)sym(lib, "chdb_connect");
	close_fn chdb_close_conn = (close_fn)sym(lib, "chdb_close_conn");
	query_fn chdb_query = (query_fn)sym(lib, "chdb_query");
	destroy_fn chdb_destroy_query_result = (destroy_fn)sym(lib, "chdb_destroy_query_result");
	buffer_fn chdb_result_buffer = (buffer_fn)sym(lib, "chdb_result_buffer");
	length_fn chdb_result_length = (length_fn)sym(lib, "chdb_result_length");
	error_fn chdb_result_error = (error_fn)sym(lib, "chdb_result_error");

	size_t pathlen = strlen(argv[2]) + sizeof("--path=");
	char *path = malloc(pathlen);
	snprintf(path, pathlen, "--path=%s", argv[2]);
	char *cargv[] = {"clickhouse", path};
	void **conn = chdb_connect(2, cargv);
	if (conn == NULL || *conn == NULL) {
		fprintf(stderr, "chdb-query: cannot open a chDB session in %s\n", argv[2]);
		return 2;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	int c;
	while ((c = getchar()) != EOF) {
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		if (c != 0) {
			buf[len++] = (char)c;
			continue;
		}
		buf[len] = 0;
		void *res = chdb_query(*conn, buf, "TabSeparated");
		const char *err = res ? chdb_result_error(res) : "no result";
		if (err != NULL) {
			frame("ERR", err, strlen(err));
		} else {
			frame("OK", chdb_result_buffer(res), chdb_result_length(res));
		}
		if (res) {
			chdb_destroy_query_result(res);
		}
		len = 0;
	}
	chdb_close_conn(conn);
	return 0;
}
