@testable import LimsQueueCLI
import Testing

/// `--database` URLs as libpq reads them: TCP, and a server's Unix-domain socket named by its directory.
@Suite("PostgreSQL URLs: TCP hosts and local sockets")
struct PostgresURLTests {
    @Test("a socket directory given as the host parameter or as the percent-encoded host names <dir>/.s.PGSQL.<port>")
    func socketPaths() throws {
        #expect(try PostgresURL.socketPath("postgres://lims@/limsqueue?host=/var/run/postgresql") == "/var/run/postgresql/.s.PGSQL.5432")
        #expect(try PostgresURL.socketPath("postgresql://lims@/limsqueue?host=/tmp/pg/&port=55499") == "/tmp/pg/.s.PGSQL.55499")
        #expect(try PostgresURL.socketPath("postgres://lims@%2Fvar%2Frun%2Fpostgresql:6543/limsqueue") == "/var/run/postgresql/.s.PGSQL.6543")
        #expect(try PostgresURL.socketPath("postgres://lims:secret@127.0.0.1:5432/limsqueue") == nil)
        #expect(try PostgresURL.socketPath("postgres://lims@db.lab.example/limsqueue?host=db2.lab.example") == nil)
    }

    @Test("a socket URL's user, password and database reach the connection settings; TLS is off over a socket")
    func socketConfiguration() throws {
        let configuration = try PostgresURL.configuration("postgres://lims:s%40cret@/limsqueue?host=/tmp/pg&port=55499")
        #expect(configuration.coreConfiguration.username == "lims")
        #expect(configuration.coreConfiguration.password == "s@cret")
        #expect(configuration.coreConfiguration.database == "limsqueue")
        #expect(configuration.coreConfiguration.unixSocketPath == "/tmp/pg/.s.PGSQL.55499")
        #expect(!configuration.coreConfiguration.tls.isAllowed)
        let tcp = try PostgresURL.configuration("postgres://lims@127.0.0.1:5433/limsqueue")
        #expect(tcp.coreConfiguration.host == "127.0.0.1")
        #expect(tcp.coreConfiguration.port == 5433)
    }

    @Test("a host parameter that is a host name (libpq takes both) connects over TCP; unreadable URLs say which forms are taken; the target is named")
    func hostParameter() throws {
        #expect(try PostgresURL.tcpURL("postgres://lims@/limsqueue?host=db.lab.example&port=6543&sslmode=disable") == "postgres://lims@db.lab.example:6543/limsqueue?sslmode=disable")
        let tcp = try PostgresURL.configuration("postgres://lims@/limsqueue?host=db.lab.example&port=6543&sslmode=disable")
        #expect(tcp.coreConfiguration.host == "db.lab.example")
        #expect(tcp.coreConfiguration.port == 6543)
        #expect(tcp.coreConfiguration.database == "limsqueue")
        #expect(!tcp.coreConfiguration.tls.isAllowed)
        #expect { try PostgresURL.configuration("postgres://lims@/limsqueue") } throws: { error in
            "\(error)".contains("postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE") && !"\(error)".contains("NSURLErrorDomain")
        }
        // A relative socket directory, the socket file instead of its directory: said so.
        #expect { try PostgresURL.configuration("postgres://lims@/limsqueue?host=tmp/pg") } throws: { error in
            "\(error)".contains("not an absolute directory")
        }
        #expect { try PostgresURL.configuration("postgres://lims@/limsqueue?host=/tmp/pg/.s.PGSQL.55499") } throws: { error in
            "\(error)".contains("host=/tmp/pg&port=55499")
        }
        #expect(PostgresURL.target("postgres://lims@/limsqueue?host=/tmp/pg&port=55499") == "the socket /tmp/pg/.s.PGSQL.55499")
        #expect(PostgresURL.target("postgres://lims@127.0.0.1:5433/limsqueue") == "127.0.0.1:5433")
    }

    @Test("libpq's user, password and dbname parameters stand for the URL's parts; IPv6 hosts in brackets or bare as host=; passwords hidden in logs")
    func libpqParameters() throws {
        let socket = try PostgresURL.configuration("postgres:///?dbname=limsqueue&user=lims&password=s%26cret&host=/tmp/pg&port=55499")
        #expect(socket.coreConfiguration.username == "lims" && socket.coreConfiguration.password == "s&cret")
        #expect(socket.coreConfiguration.database == "limsqueue")
        #expect(socket.coreConfiguration.unixSocketPath == "/tmp/pg/.s.PGSQL.55499")
        // A parameter wins over the URL's own part.
        let tcp = try PostgresURL.configuration("postgres://other@127.0.0.1:5433/postgres?user=lims&dbname=limsqueue&sslmode=disable")
        #expect(tcp.coreConfiguration.username == "lims" && tcp.coreConfiguration.database == "limsqueue")
        #expect(tcp.coreConfiguration.host == "127.0.0.1" && tcp.coreConfiguration.port == 5433 && !tcp.coreConfiguration.tls.isAllowed)
        #expect(PostgresURL.target("postgres:///?dbname=limsqueue&user=lims&host=/tmp/pg") == "the socket /tmp/pg/.s.PGSQL.5432")
        // IPv6.
        let bracketed = try PostgresURL.configuration("postgres://lims@[::1]:5433/limsqueue")
        #expect(bracketed.coreConfiguration.host == "::1" && bracketed.coreConfiguration.port == 5433)
        let bare = try PostgresURL.configuration("postgres://lims@/limsqueue?host=::1&port=5433")
        #expect(bare.coreConfiguration.host == "::1" && bare.coreConfiguration.port == 5433)
        #expect(bare.coreConfiguration.database == "limsqueue")
        // An empty parameter is unset (libpq): the URL's own part stays.
        let empty = try PostgresURL.configuration("postgres://lims@127.0.0.1:5433/limsqueue?user=&dbname=&sslmode=disable")
        #expect(empty.coreConfiguration.username == "lims" && empty.coreConfiguration.database == "limsqueue")
        // A port parameter applies to the URL's own host; an IPv6 target is named in brackets.
        let ported = try PostgresURL.configuration("postgres://lims@127.0.0.1/limsqueue?port=55499&sslmode=disable")
        #expect(ported.coreConfiguration.host == "127.0.0.1" && ported.coreConfiguration.port == 55499)
        #expect(PostgresURL.target("postgres://lims@[::1]:5433/limsqueue") == "[::1]:5433")
        // A port out of range in the URL itself, and a dbname= with a /, are refused naming them (a tryout's 70000
        // dialled 4464; fresh2_a%2Fjunk opened another database); a bench's database replaces a dbname= too.
        #expect { try PostgresURL.configuration("postgres://lims@127.0.0.1:70000/limsqueue") } throws: { "\($0)".contains("65535, not 70000") }
        #expect { try PostgresURL.configuration("postgres://lims@/?host=/tmp/pg&dbname=a%2Fjunk") } throws: { "\($0)".contains("dbname=a/junk") }
        #expect { try PostgresURL.configuration("postgres://lims@127.0.0.1:5433/?dbname=a%2Fjunk") } throws: { "\($0)".contains("dbname=a/junk") }
        let bench = StorageEnvironment.replacingDatabase(in: "postgres://lims@127.0.0.1:5433/?dbname=mine&sslmode=disable", with: "lq_bench_1")
        #expect(try PostgresURL.configuration(bench).coreConfiguration.database == "lq_bench_1")
        // Passwords never reach a log line.
        #expect(PostgresURL.redacted("postgres://lims:secret@db/limsqueue") == "postgres://lims:***@db/limsqueue")
        #expect(PostgresURL.redacted("postgres:///?user=lims&password=secret&dbname=x") == "postgres:///?user=lims&password=***&dbname=x")
    }

    @Test("a URL without a user, with a port that is not a port or an unknown sslmode is refused naming what is wrong")
    func refused() throws {
        #expect { try PostgresURL.configuration("postgres:///limsqueue?host=/tmp/pg") } throws: { error in
            "\(error)".contains("names no user")
        }
        #expect { try PostgresURL.configuration("postgres://lims@/limsqueue?host=/tmp/pg&port=99999") } throws: { error in
            "\(error)".contains("port")
        }
        // TCP: no user, an unknown sslmode each named (both got the generic "not a PostgreSQL URL" before).
        #expect { try PostgresURL.configuration("postgres://127.0.0.1:5432/limsqueue") } throws: { error in
            "\(error)".contains("names no user")
        }
        #expect { try PostgresURL.configuration("postgres://lims@127.0.0.1/limsqueue?sslmode=bogus") } throws: { error in
            "\(error)".contains("sslmode=bogus") && "\(error)".contains("verify-full")
        }
        // Parameters LimsQueue would not apply are refused, naming them; harmless ones are taken.
        #expect { try PostgresURL.configuration("postgres://lims@127.0.0.1/limsqueue?options=-c%20search_path%3Dlab") } throws: { error in
            "\(error)".contains("options") && "\(error)".contains("not supported")
        }
        #expect { try PostgresURL.configuration("postgres://lims@127.0.0.1/limsqueue?DBNAME=other") } throws: { error in
            "\(error)".contains("DBNAME") && "\(error)".contains("not supported")
        }
        #expect { try PostgresURL.configuration("postgres://lims@/limsqueue?host=db1,db2") } throws: { error in
            "\(error)".contains("several hosts")
        }
        #expect(throws: Never.self) { try PostgresURL.configuration("postgres://lims@127.0.0.1/limsqueue?application_name=lab&connect_timeout=5") }
        for mode in PostgresURL.sslModes {
            #expect(throws: Never.self) { try PostgresURL.configuration("postgres://lims@127.0.0.1/limsqueue?sslmode=\(mode)") }
        }
        // A scheme in capitals, stray & and =, and a path of only / read as libpq reads them; a value without a name is refused.
        let upper = try? PostgresURL.configuration("POSTGRES://lims@127.0.0.1:5433/limsqueue?&&=&sslmode=disable&")
        #expect(upper?.coreConfiguration.host == "127.0.0.1" && upper?.coreConfiguration.port == 5433
                && upper?.coreConfiguration.database == "limsqueue", "\(String(describing: upper?.coreConfiguration))")
        #expect(try PostgresURL.socketPath("PostgreSQL://lims@/limsqueue?host=/tmp/pg&port=5433") == "/tmp/pg/.s.PGSQL.5433")
        let noDatabase = try? PostgresURL.configuration("postgres://lims@127.0.0.1/")
        #expect(noDatabase != nil && (noDatabase?.coreConfiguration.database ?? "") != "/", "\(String(describing: noDatabase?.coreConfiguration))")
        #expect { try PostgresURL.configuration("postgres://lims@127.0.0.1/limsqueue?=x") } throws: { error in
            "\(error)".contains("without a name")
        }
        #expect(PostgresURL.isPostgres("postgresql://lims@/db?host=/tmp"))
        #expect(PostgresURL.isPostgres("postgres+uds://lims@localhost/tmp/.s.PGSQL.5432#db"))
        #expect(!PostgresURL.isPostgres("mysql://lims@host/db"))
    }
}
