package schema

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/change"
)

// colString renders a column compactly for comparisons:
// name|type|sqltype|length|precision,scale|flags|charset|members
// where flags holds U (unsigned), N (nullable), G (generated).
func colString(c change.Column) string {
	flags := ""
	if c.Unsigned {
		flags += "U"
	}
	if c.Nullable {
		flags += "N"
	}
	if c.Generated {
		flags += "G"
	}
	s := fmt.Sprintf("%s|%s|%s|%d|%d,%d|%s|%s", c.Name, c.Type, c.SQLType, c.Length, c.Precision, c.Scale, flags, c.Charset)
	if c.Members != nil {
		s += "|" + strings.Join(c.Members, ",")
	}
	return s
}

func TestParseCreateTable(t *testing.T) {
	cases := []struct {
		name   string
		sql    string
		schema string // expected schema.name
		cols   []string
		pk     []int
	}{
		{
			name:   "mariadb show create",
			schema: "db.t",
			sql: "CREATE TABLE `t` (\n" +
				"  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,\n" +
				"  `b` bigint(20) DEFAULT NULL,\n" +
				"  `d` decimal(10,2) unsigned NOT NULL DEFAULT 0.00,\n" +
				"  `name` varchar(64) NOT NULL DEFAULT '',\n" +
				"  `l1` char(3) CHARACTER SET latin1 COLLATE latin1_swedish_ci DEFAULT NULL,\n" +
				"  `ts` timestamp(3) NOT NULL DEFAULT current_timestamp(3) ON UPDATE current_timestamp(3),\n" +
				"  `j` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`j`)),\n" +
				"  PRIMARY KEY (`id`),\n" +
				"  KEY `name` (`name`)\n" +
				") ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
			cols: []string{
				"id|int|int(10) unsigned|-1|0,0|U|",
				"b|bigint|bigint(20)|-1|0,0|N|",
				"d|decimal|decimal(10,2) unsigned|-1|10,2|U|",
				"name|varchar|varchar(64)|64|0,0||utf8mb4",
				"l1|char|char(3)|3|0,0|N|latin1",
				"ts|timestamp|timestamp(3)|-1|0,3||",
				"j|json|json|-1|0,0|N|utf8mb4",
			},
			pk: []int{0},
		},
		{
			name:   "mysql 8 show create",
			schema: "shop.orders",
			sql: "CREATE TABLE `shop`.`orders` (\n" +
				"  `id` bigint unsigned NOT NULL AUTO_INCREMENT,\n" +
				"  `amount` decimal(12,4) NOT NULL,\n" +
				"  `doc` json DEFAULT NULL,\n" +
				"  `created` datetime(6) NOT NULL,\n" +
				"  `flag` bit(3) DEFAULT NULL,\n" +
				"  `y` year DEFAULT NULL,\n" +
				"  `f` float DEFAULT NULL,\n" +
				"  `g` double(8,3) DEFAULT NULL,\n" +
				"  `pt` point NOT NULL /*!80003 SRID 4326 */,\n" +
				"  `v` int GENERATED ALWAYS AS ((`id` * 2)) VIRTUAL,\n" +
				"  PRIMARY KEY (`id`),\n" +
				"  SPATIAL KEY `pt` (`pt`)\n" +
				") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci",
			cols: []string{
				"id|bigint|bigint unsigned|-1|0,0|U|",
				"amount|decimal|decimal(12,4)|-1|12,4||",
				"doc|json|json|-1|0,0|N|utf8mb4",
				"created|datetime|datetime(6)|-1|0,6||",
				"flag|bit|bit(3)|3|0,0|N|",
				"y|year|year|-1|0,0|N|",
				"f|float|float|-1|0,0|N|",
				"g|double|double(8,3)|-1|8,3|N|",
				"pt|point|point|-1|0,0||",
				"v|int|int|-1|0,0|NG|",
			},
			pk: []int{0},
		},
		{
			name:   "mariadb special types and attributes",
			schema: "db.s",
			sql: "CREATE TABLE s (\n" +
				"  uuid uuid NOT NULL,\n" +
				"  `inet6` inet6 DEFAULT NULL,\n" +
				"  ip4 INET4 /*M!100301 COMPRESSED*/ INVISIBLE,\n" +
				"  blobz blob /*M!100301 COMPRESSED*/ DEFAULT NULL,\n" +
				"  txt text COMPRESSED=zlib CHARACTER SET ucs2,\n" +
				"  p int AS (length(uuid)) PERSISTENT,\n" +
				"  g geometry DEFAULT NULL REF_SYSTEM_ID=4326,\n" +
				"  PRIMARY KEY (uuid)\n" +
				") DEFAULT CHARSET=latin1",
			cols: []string{
				"uuid|uuid|uuid|-1|0,0||",
				"inet6|inet6|inet6|-1|0,0|N|",
				"ip4|inet4|inet4|-1|0,0|N|",
				"blobz|blob|blob|-1|0,0|N|binary",
				"txt|text|text|-1|0,0|N|ucs2",
				"p|int|int|-1|0,0|NG|",
				"g|geometry|geometry|-1|0,0|N|",
			},
			pk: []int{0},
		},
		{
			name:   "user written types and defaults",
			schema: "x.u",
			sql: "create table x.u (a INT PRIMARY KEY, b TINYINT UNSIGNED ZEROFILL, c BOOL, d DECIMAL, e NUMERIC(5), " +
				"f CHAR, g BINARY, h VARBINARY(7), i VARCHAR(10) CHARACTER SET binary, j TEXT(100), k TINYTEXT, " +
				"l MEDIUMBLOB, m ENUM('x''y','b\\\\c','') CHARSET latin1, n SET('a','b') NOT NULL, o TIME, p TIME(2), " +
				"q DATE, r SERIAL, s NCHAR(2), t VARCHAR(5) COLLATE latin1_german1_ci, u BIT, v LONGTEXT CHARACTER SET binary, " +
				"w REAL, x FLOAT(7,3) UNSIGNED, y MEDIUMINT, z SMALLINT(3))",
			cols: []string{
				"a|int|int|-1|0,0||",
				"b|tinyint|tinyint unsigned zerofill|-1|0,0|UN|",
				"c|tinyint|tinyint(1)|-1|0,0|N|",
				"d|decimal|decimal(10,0)|-1|10,0|N|",
				"e|decimal|decimal(5,0)|-1|5,0|N|",
				"f|char|char(1)|1|0,0|N|utf8mb4",
				"g|binary|binary(1)|1|0,0|N|binary",
				"h|varbinary|varbinary(7)|7|0,0|N|binary",
				"i|varbinary|varbinary(10)|10|0,0|N|binary",
				"j|text|text|-1|0,0|N|utf8mb4",
				"k|tinytext|tinytext|-1|0,0|N|utf8mb4",
				"l|mediumblob|mediumblob|-1|0,0|N|binary",
				"m|enum|enum('x''y','b\\\\c','')|-1|0,0|N|latin1|x'y,b\\c,",
				"n|set|set('a','b')|-1|0,0||utf8mb4|a,b",
				"o|time|time|-1|0,0|N|",
				"p|time|time(2)|-1|0,2|N|",
				"q|date|date|-1|0,0|N|",
				"r|bigint|bigint unsigned|-1|0,0|U|",
				"s|char|char(2)|2|0,0|N|utf8mb3",
				"t|varchar|varchar(5)|5|0,0|N|latin1",
				"u|bit|bit(1)|1|0,0|N|",
				"v|longblob|longblob|-1|0,0|N|binary",
				"w|double|double|-1|0,0|N|",
				"x|float|float(7,3) unsigned|-1|7,3|UN|",
				"y|mediumint|mediumint|-1|0,0|N|",
				"z|smallint|smallint(3)|-1|0,0|N|",
			},
			pk: []int{0},
		},
		{
			name:   "composite primary key, table collation only, comments",
			schema: "db.c",
			sql: "/* leading */ CREATE TABLE IF NOT EXISTS `c` ( -- comment\n `a` varchar(3) NOT NULL, # another\n" +
				" `b` int NOT NULL, `c` text, CONSTRAINT `pk` PRIMARY KEY (`b`,`a`), UNIQUE KEY (`c`(10))) COLLATE=latin1_bin",
			cols: []string{
				"a|varchar|varchar(3)|3|0,0||latin1",
				"b|int|int|-1|0,0||",
				"c|text|text|-1|0,0|N|latin1",
			},
			pk: []int{1, 0},
		},
		{
			name:   "utf8 alias and text(n) sizing",
			schema: "db.a",
			sql:    "CREATE TABLE a (x VARCHAR(2) CHARACTER SET utf8, y TEXT(70000) CHARACTER SET latin1, z TEXT(20000), w BLOB(300))",
			cols: []string{
				"x|varchar|varchar(2)|2|0,0|N|utf8mb3",
				"y|mediumtext|mediumtext|-1|0,0|N|latin1",
				"z|mediumtext|mediumtext|-1|0,0|N|utf8mb4",
				"w|blob|blob|-1|0,0|N|binary",
			},
		},
		{
			name:   "mysql 8 invisible, functional index, partitions, options",
			schema: "db.t8",
			sql: "CREATE TABLE `t8` (\n  `id` int NOT NULL,\n  `name` varchar(10) COLLATE utf8mb4_0900_ai_ci DEFAULT NULL /*!80023 INVISIBLE */,\n" +
				"  `d` datetime DEFAULT (now()),\n  PRIMARY KEY (`id`),\n  KEY `idx` ((lower(`name`))),\n  CONSTRAINT `c1` CHECK ((`id` > 0))\n" +
				") ENGINE=InnoDB DEFAULT CHARSET=latin1 STATS_PERSISTENT=0 ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8 /*!80016 ENCRYPTION='N' */\n" +
				"/*!50100 PARTITION BY RANGE (`id`)\n(PARTITION p0 VALUES LESS THAN (10) ENGINE = InnoDB,\n PARTITION p1 VALUES LESS THAN MAXVALUE ENGINE = InnoDB) */",
			cols: []string{
				"id|int|int|-1|0,0||",
				"name|varchar|varchar(10)|10|0,0|N|utf8mb4",
				"d|datetime|datetime|-1|0,0|N|",
			},
			pk: []int{0},
		},
		{
			name:   "mariadb index syntax and engine options",
			schema: "db.a",
			sql: "CREATE TABLE `a` (`id` int(11) NOT NULL, `u` uuid DEFAULT uuid(), `x` varchar(10) DEFAULT NULL, `s` timestamp(6) NOT NULL, `e` timestamp(6) NOT NULL, " +
				"PERIOD FOR `p` (`s`, `e`), PRIMARY KEY (`id`,`p` WITHOUT OVERLAPS) USING BTREE, KEY `x` (`x`) IGNORED, UNIQUE KEY `h` (`x`) USING HASH, " +
				"CONSTRAINT `fk` FOREIGN KEY (`id`) REFERENCES `o` (`id`)) ENGINE=Aria DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_ai_ci PAGE_CHECKSUM=1 TRANSACTIONAL=1 `encrypted`=yes",
			cols: []string{
				"id|int|int(11)|-1|0,0||",
				"u|uuid|uuid|-1|0,0|N|",
				"x|varchar|varchar(10)|10|0,0|N|utf8mb4",
				"s|timestamp|timestamp(6)|-1|0,6||",
				"e|timestamp|timestamp(6)|-1|0,6||",
			},
			pk: []int{0, 4, 3}, // the period end and start close the key
		},
		{
			name:   "unicode names, quoted charset, vector",
			schema: "sch.ünïcode",
			sql:    "create table `sch`.`ünïcode` (`ç` int primary key, `a b` char(2) charset 'latin1', v vector(3) NOT NULL, g geometry NOT NULL /*!80003 SRID 0 */)",
			cols: []string{
				"ç|int|int|-1|0,0||",
				"a b|char|char(2)|2|0,0|N|latin1",
				"v|vector|vector(3)|3|0,0||",
				"g|geometry|geometry|-1|0,0||",
			},
			pk: []int{0},
		},
		{
			name:   "invisible column named like keywords",
			schema: "db.k",
			sql:    "CREATE TABLE k (`invisible` int INVISIBLE, `persistent` int, compressed int, `srid` int, wait int)",
			cols: []string{
				"invisible|int|int|-1|0,0|N|",
				"persistent|int|int|-1|0,0|N|",
				"compressed|int|int|-1|0,0|N|",
				"srid|int|int|-1|0,0|N|",
				"wait|int|int|-1|0,0|N|",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := ParseCreateTable("db", tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			if tb.FullName() != tc.schema {
				t.Errorf("name %s, want %s", tb.FullName(), tc.schema)
			}
			var got []string
			for _, c := range tb.Columns {
				got = append(got, colString(c))
			}
			if strings.Join(got, "\n") != strings.Join(tc.cols, "\n") {
				t.Errorf("columns:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.cols, "\n"))
			}
			if fmt.Sprint(tb.PrimaryKey) != fmt.Sprint(tc.pk) {
				t.Errorf("primary key %v, want %v", tb.PrimaryKey, tc.pk)
			}
		})
	}
}

func TestParseCreateTableErrors(t *testing.T) {
	for _, sql := range []string{
		"CREATE TABLE v LIKE w",
		"SELECT 1",
		"CREATE TABLE (",
		"",
	} {
		if _, err := ParseCreateTable("db", sql); err == nil {
			t.Errorf("%q: no error", sql)
		} else {
			t.Logf("%q: %v", sql, err)
		}
	}
}

func TestLiteralDefaults(t *testing.T) {
	tbl, err := ParseCreateTable("d", "CREATE TABLE t (a INT DEFAULT 5, b VARCHAR(10) DEFAULT 'x''y', c DECIMAL(5,2) DEFAULT -1.50, "+
		"d DATETIME DEFAULT CURRENT_TIMESTAMP, e INT DEFAULT NULL, f INT, g DOUBLE DEFAULT 2.5e0, h TINYINT(1) DEFAULT TRUE)")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "5", "b": "x'y", "c": "-1.50", "g": "2.5", "h": "1"}
	for _, c := range tbl.Columns {
		got := "<none>"
		if c.Default != nil {
			got = *c.Default
		}
		w, ok := want[c.Name]
		if !ok {
			w = "<none>"
		}
		if got != w {
			t.Errorf("column %s: default %q, want %q", c.Name, got, w)
		}
	}
}
