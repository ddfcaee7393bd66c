-- DDL constructs that MariaDB accepts and the schema history must apply
-- (issue 13, item 1). Every statement here must be accepted by the server:
-- TestDDLConstructs fails otherwise, so that no construct goes untested.

-- Expression and function defaults of any shape.
CREATE TABLE defaults (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  d1 DATE DEFAULT CAST(CURRENT_TIMESTAMP() AS DATE),
  t1 TIME DEFAULT curtime(),
  t2 TIME(3) DEFAULT CURTIME(3),
  u1 VARCHAR(36) DEFAULT UUID(),
  u2 BIGINT UNSIGNED DEFAULT UUID_SHORT() NOT NULL,
  ts1 TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  ts2 DATETIME DEFAULT NOW() ON UPDATE NOW(),
  ts3 DATETIME DEFAULT current_timestamp,
  n1 INT DEFAULT (1 + 2),
  n2 INT DEFAULT (1 + 2 * 3),
  n3 INT DEFAULT -1,
  n4 DECIMAL(5,2) DEFAULT -.5,
  n5 DOUBLE DEFAULT 1e3,
  s1 VARCHAR(10) DEFAULT concat('a', 'b'),
  s2 VARCHAR(10) CHARACTER SET latin1 DEFAULT _latin1'x',
  s3 VARBINARY(4) DEFAULT X'4142',
  s4 VARCHAR(10) DEFAULT 'a' 'b',
  s5 VARCHAR(10) DEFAULT (LPAD('x', 3, '-')),
  b1 BIT(3) DEFAULT b'101',
  j1 JSON DEFAULT (JSON_OBJECT('a', 1)),
  y1 YEAR DEFAULT (YEAR(CURDATE())),
  e1 ENUM('a','b') DEFAULT 'b',
  i1 INT DEFAULT NULL,
  i2 INT DEFAULT (n3 * 2)
);
ALTER TABLE defaults ADD COLUMN d2 DATE DEFAULT (CURRENT_DATE + INTERVAL 1 DAY) AFTER d1, MODIFY n1 BIGINT DEFAULT (2 * 3);
ALTER TABLE defaults ALTER COLUMN n3 SET DEFAULT (4 DIV 2), ALTER n4 DROP DEFAULT;
CREATE SEQUENCE seq1;
CREATE TABLE seq_defaults (id BIGINT DEFAULT NEXT VALUE FOR seq1, id2 BIGINT DEFAULT NEXTVAL(seq1), id3 BIGINT DEFAULT (PREVIOUS VALUE FOR seq1));

-- Reserved and non-reserved words as identifiers.
CREATE TABLE log_table (row VARCHAR(512), rank INT, lead INT, lag INT, status INT, system INT, period INT, vector INT, `select` INT, `key` INT, `order` INT, `if` INT);
ALTER TABLE log_table ADD COLUMN groups INT AFTER row, CHANGE rank `rank2` INT, RENAME COLUMN lead TO `lead2`, DROP COLUMN lag, MODIFY `if` BIGINT;
CREATE TABLE `IF` (`TABLE` INT, `from` VARCHAR(3) PRIMARY KEY);
CREATE TABLE `weird ``name`` $` (`a b` INT, `ä` VARCHAR(3), `1c` INT, _ INT);
CREATE TABLE status (window_ INT, `window` INT, general INT, option_ INT, position INT);

-- IF EXISTS / IF NOT EXISTS on every statement that has it.
CREATE TABLE IF NOT EXISTS ine (id INT PRIMARY KEY, a INT, b INT);
CREATE TABLE IF NOT EXISTS ine (other INT);
ALTER TABLE IF EXISTS ine ADD COLUMN IF NOT EXISTS c INT, ADD COLUMN IF NOT EXISTS a INT, DROP COLUMN IF EXISTS nope, DROP COLUMN IF EXISTS b;
ALTER TABLE ine CHANGE COLUMN IF EXISTS nope nope2 INT, CHANGE COLUMN IF EXISTS c c2 BIGINT, MODIFY COLUMN IF EXISTS nope3 INT, MODIFY IF EXISTS a SMALLINT;
ALTER TABLE ine ADD INDEX IF NOT EXISTS ia (a), ADD INDEX IF NOT EXISTS ia (a), DROP INDEX IF EXISTS nope, DROP INDEX IF EXISTS ia;
ALTER TABLE ine ADD PRIMARY KEY IF NOT EXISTS (c2);
ALTER TABLE ine ADD CONSTRAINT IF NOT EXISTS ck CHECK (a > 0), DROP CONSTRAINT IF EXISTS ck, DROP FOREIGN KEY IF EXISTS fk;
ALTER TABLE IF EXISTS never_there ADD COLUMN x INT;
DROP TABLE IF EXISTS never_there, also_never;
CREATE TABLE ren_a (id INT);
CREATE TABLE ren_c (id VARCHAR(3));
RENAME TABLE IF EXISTS ren_a TO ren_b;
RENAME TABLES IF EXISTS never_there TO nt2, ren_c TO ren_d;
RENAME TABLE ren_b TO ren_a, ren_a TO ren_e;
CREATE SEQUENCE IF NOT EXISTS seq1;
CREATE SEQUENCE IF NOT EXISTS seq2 START WITH 10 INCREMENT BY 5;
DROP SEQUENCE IF EXISTS seq2, never_seq;
CREATE DATABASE IF NOT EXISTS test;
CREATE DATABASE IF NOT EXISTS other_db CHARACTER SET latin1;
DROP DATABASE IF EXISTS never_db;
CREATE OR REPLACE TABLE ine2 (id INT);
CREATE OR REPLACE TABLE ine2 (id VARCHAR(4), x INT);
CREATE INDEX IF NOT EXISTS ix ON ine2 (x);
DROP INDEX IF EXISTS ix ON ine2;

-- SET STATEMENT ... FOR.
SET STATEMENT max_statement_time = 100 FOR CREATE TABLE set_stmt (id INT, v VARCHAR(5));
SET STATEMENT sql_mode = '', foreign_key_checks = 0 FOR ALTER TABLE set_stmt ADD COLUMN w DATE;

-- CREATE ... SELECT and CREATE TABLE ... LIKE.
CREATE TABLE sel_src (id INT PRIMARY KEY, name VARCHAR(20) CHARACTER SET latin1, price DECIMAL(8,3));
CREATE TABLE sel1 SELECT * FROM sel_src;
CREATE TABLE sel2 (extra INT) SELECT id, name FROM sel_src;
CREATE TABLE sel3 AS SELECT id * 2 AS twice, CONCAT(name, 'x') AS n2, 1.5 AS lit FROM sel_src;
CREATE TABLE like1 LIKE sel_src;
CREATE TABLE like2 (LIKE sel_src);
CREATE TABLE like4 LIKE defaults;

-- ALTER TABLE with many clauses, ALGORITHM and LOCK.
CREATE TABLE many (id INT, a INT, b VARCHAR(10), c TEXT, d INT);
ALTER TABLE many ADD COLUMN e INT FIRST, ADD f INT AFTER a, DROP COLUMN d, MODIFY b VARCHAR(20) NOT NULL, CHANGE c c2 MEDIUMTEXT, ADD PRIMARY KEY (id), ADD INDEX (a), ADD UNIQUE KEY uk (b), ALGORITHM=COPY, LOCK=SHARED;
ALTER TABLE many ADD COLUMN g INT, ALGORITHM=INSTANT;
ALTER TABLE many ADD COLUMN h INT, ALGORITHM=INPLACE, LOCK=NONE;
ALTER TABLE many ALGORITHM=NOCOPY, ADD COLUMN i INT;
ALTER TABLE many LOCK=EXCLUSIVE, ALGORITHM=DEFAULT, DROP COLUMN h;
ALTER ONLINE TABLE many ADD COLUMN j INT;
ALTER IGNORE TABLE many ADD COLUMN k INT;
ALTER TABLE many WAIT 5 ADD COLUMN l INT;
ALTER TABLE many NOWAIT DROP COLUMN l;
ALTER TABLE many ENGINE=InnoDB, ROW_FORMAT=DYNAMIC, COMMENT='c', AUTO_INCREMENT=5, STATS_PERSISTENT=0;
ALTER TABLE many FORCE;
ALTER TABLE many ORDER BY a;
ALTER TABLE many DROP PRIMARY KEY, ADD PRIMARY KEY (id, a);
ALTER TABLE many RENAME TO many2, ADD COLUMN m INT;
ALTER TABLE many2 RENAME AS many3;
ALTER TABLE many3 RENAME other_db.many4;
ALTER TABLE other_db.many4 RENAME test.many5;

-- Invisible, compressed and generated columns.
CREATE TABLE compressed (id INT PRIMARY KEY, z BLOB COMPRESSED, zt TEXT COMPRESSED=zlib, zv VARCHAR(100) COMPRESSED);
ALTER TABLE compressed ADD COLUMN zz MEDIUMTEXT COMPRESSED AFTER id, MODIFY zv VARCHAR(200) COMPRESSED NOT NULL;
CREATE TABLE cols (id INT PRIMARY KEY, inv INT INVISIBLE,
  g1 INT AS (id * 2) VIRTUAL, g2 INT GENERATED ALWAYS AS (id + 1) STORED, g3 VARCHAR(10) AS (CONCAT(id, 'x')) PERSISTENT,
  g4 INT AS (CASE WHEN id > 0 THEN 1 ELSE 0 END), g5 DATE AS (CAST(CURRENT_DATE() AS DATE)) VIRTUAL INVISIBLE);
ALTER TABLE cols ADD COLUMN inv2 INT INVISIBLE AFTER id, MODIFY inv INT, ADD g6 INT AS (inv2 + 1) PERSISTENT;

-- Sequences.
CREATE SEQUENCE seq3 START WITH 100 INCREMENT BY 10 MINVALUE 1 MAXVALUE 10000 CACHE 20 CYCLE;
ALTER SEQUENCE seq3 RESTART WITH 500;
CREATE OR REPLACE SEQUENCE seq4 NOCACHE;
CREATE TABLE seq_as_table (next_not_cached_value bigint(21) NOT NULL, minimum_value bigint(21) NOT NULL, maximum_value bigint(21) NOT NULL, start_value bigint(21) NOT NULL, increment bigint(21) NOT NULL, cache_size bigint(21) unsigned NOT NULL, cycle_option tinyint(1) unsigned NOT NULL, cycle_count bigint(21) NOT NULL) SEQUENCE=1;

-- System-versioned tables and periods.
CREATE TABLE sv1 (id INT PRIMARY KEY, v VARCHAR(3)) WITH SYSTEM VERSIONING;
CREATE TABLE sv2 (id INT, ts TIMESTAMP(6) GENERATED ALWAYS AS ROW START, te TIMESTAMP(6) GENERATED ALWAYS AS ROW END, PERIOD FOR SYSTEM_TIME(ts, te)) WITH SYSTEM VERSIONING;
CREATE TABLE sv3 (id INT, x INT WITHOUT SYSTEM VERSIONING, y INT WITH SYSTEM VERSIONING);
CREATE TABLE sv4 (id INT);
ALTER TABLE sv4 ADD SYSTEM VERSIONING;
SET STATEMENT system_versioning_alter_history = KEEP FOR ALTER TABLE sv4 ADD COLUMN z INT;
CREATE TABLE sv5 (id INT);
ALTER TABLE sv5 ADD COLUMN rs TIMESTAMP(6) AS ROW START, ADD COLUMN re TIMESTAMP(6) AS ROW END, ADD PERIOD FOR SYSTEM_TIME(rs, re), ADD SYSTEM VERSIONING;
SET STATEMENT system_versioning_alter_history = KEEP FOR ALTER TABLE sv5 ADD COLUMN q INT;
CREATE TABLE sv6 (id INT, v INT) WITH SYSTEM VERSIONING;
ALTER TABLE sv6 DROP SYSTEM VERSIONING;
CREATE TABLE sv7 (id INT, rs TIMESTAMP(6) AS ROW START INVISIBLE, re TIMESTAMP(6) AS ROW END INVISIBLE, PERIOD FOR SYSTEM_TIME(rs, re)) WITH SYSTEM VERSIONING;
SET STATEMENT system_versioning_alter_history = KEEP FOR ALTER TABLE sv7 DROP SYSTEM VERSIONING, DROP PERIOD FOR SYSTEM_TIME, DROP COLUMN rs, DROP COLUMN re;
CREATE TABLE app1 (id INT, s DATE, e DATE, PERIOD FOR p(s, e), PRIMARY KEY (id, p WITHOUT OVERLAPS));
CREATE TABLE app2 (id INT, s DATETIME, e DATETIME);
ALTER TABLE app2 ADD PERIOD FOR p2(s, e);
ALTER TABLE app2 DROP PERIOD FOR p2;
CREATE TABLE sv8 (id INT, s DATE, e DATE, PERIOD FOR p(s, e)) WITH SYSTEM VERSIONING;

-- Character set and collation forms.
CREATE TABLE cs1 (a VARCHAR(3), b TEXT, c CHAR(2) CHARSET latin1) CHARACTER SET = DEFAULT;
CREATE TABLE cs2 (a VARCHAR(3)) CHARSET DEFAULT COLLATE DEFAULT;
CREATE TABLE cs3 (a VARCHAR(3)) DEFAULT CHARACTER SET = latin1 COLLATE = latin1_bin;
CREATE TABLE cs4 (a VARCHAR(3) CHARACTER SET binary, b CHAR(3) BINARY, c TEXT CHARSET binary, d VARCHAR(4) COLLATE binary, e VARCHAR(5) CHARACTER SET utf8mb4 BINARY);
CREATE TABLE cs5 (a NATIONAL VARCHAR(3), b NCHAR(2), c NATIONAL CHAR(4), d NVARCHAR(5), e NATIONAL CHARACTER VARYING(6), f CHARACTER VARYING(7));
CREATE TABLE cs6 (a CHAR(10) UNICODE, b VARCHAR(20) ASCII, c CHAR(3) BYTE, d VARCHAR(3) UNICODE BINARY, e VARCHAR(4) ASCII BINARY);
CREATE TABLE cs7 (a VARCHAR(3) CHARACTER SET 'latin1' COLLATE 'latin1_german2_ci', b VARCHAR(3) COLLATE utf8mb4_unicode_ci, c VARCHAR(3) CHARACTER SET utf8 COLLATE utf8_bin, d TEXT CHARACTER SET ucs2, e VARCHAR(3) CHARACTER SET "sjis");
CREATE TABLE cs8 (a VARCHAR(10), b TINYTEXT, c TEXT) CHARSET latin1;
ALTER TABLE cs8 CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
ALTER TABLE cs8 CHARACTER SET = DEFAULT, ADD COLUMN d VARCHAR(3);
ALTER TABLE cs8 CONVERT TO CHARACTER SET DEFAULT;
ALTER TABLE cs8 DEFAULT CHARSET = latin1, ADD COLUMN e VARCHAR(3);
ALTER DATABASE other_db CHARACTER SET = DEFAULT;
CREATE TABLE other_db.cs9 (a VARCHAR(3));
ALTER DATABASE other_db DEFAULT CHARACTER SET latin2;
CREATE TABLE other_db.cs10 (a VARCHAR(3));
CREATE DATABASE db_with_character_set CHARACTER SET DEFAULT;
CREATE TABLE db_with_character_set.cs11 (a VARCHAR(3));

-- Numeric forms the server tolerates.
CREATE TABLE num (c1 DECIMAL(19), c2 DECIMAL(19.5), c3 DECIMAL(0.0), c4 DECIMAL(0.2), c5 DECIMAL(19,2), c6 FLOAT(7.4), c7 DEC(6,1), c8 FIXED(5), c9 NUMERIC,
  c10 REAL, c11 DOUBLE PRECISION, c12 FLOAT4, c13 FLOAT8, c14 INT1, c15 INT2, c16 INT3, c17 INT4, c18 INT8, c19 MIDDLEINT, c20 INTEGER UNSIGNED ZEROFILL,
  c21 BOOL, c22 BOOLEAN, c23 INT(11) SIGNED, c24 FLOAT(30), c25 FLOAT(10,2) UNSIGNED, c26 TINYINT(1), c27 BIGINT(20) UNSIGNED, c28 SERIAL, c29 BIT, c30 DATETIME(3.0),
  c31 VARCHAR(3.0), c32 DOUBLE(10,2), c33 NUMERIC(65,30), c34 LONG VARCHAR, c35 LONG, c36 LONG VARBINARY, c37 CHAR, c38 BINARY);
CREATE TABLE num2 (a INT, c39 SMALLINT SERIAL DEFAULT VALUE, b INT);

-- MariaDB types.
CREATE TABLE types (u UUID, i4 INET4, i6 INET6, p POINT, g GEOMETRY, ls LINESTRING, pg POLYGON, mp MULTIPOINT, ml MULTILINESTRING, mpg MULTIPOLYGON, gc GEOMETRYCOLLECTION,
  j JSON);

-- Comments in every position and versioned comments.
/* leading */ CREATE /* a */ TABLE /* b */ cm1 /* c */ ( /* d */ id /* e */ INT /* f */ NOT /* g */ NULL -- h
  , # i
  v VARCHAR(3) COMMENT 'the ''v'' column' /* j */, w INT COMMENT "double ""quoted""" ) /* k */ COMMENT = 'table' /* l */;
CREATE TABLE cm2 (id INT /*!50100 NOT NULL */, v INT /*M!100100 INVISIBLE */, w INT /*!50100 DEFAULT 5 */) /*!50100 ENGINE=InnoDB */ /*!40101 DEFAULT CHARSET=latin1 */;
/*!40101 ALTER TABLE cm2 ADD COLUMN x INT */;
/*M!100100 ALTER TABLE cm2 ADD COLUMN y VARCHAR(3) */;
ALTER TABLE cm2 /* comment */ ADD /* c */ COLUMN /* c */ z /* c */ INT /* c */ AFTER /* c */ id;
CREATE TABLE cm3 (id INT) /*!50100 PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS THAN (20)) */;

-- Partitions, indexes, and other statements that do not change columns.
ALTER TABLE cm3 ADD PARTITION IF NOT EXISTS (PARTITION p2 VALUES LESS THAN (30));
ALTER TABLE cm3 REORGANIZE PARTITION p2 INTO (PARTITION p3 VALUES LESS THAN (25), PARTITION p4 VALUES LESS THAN (30));
ALTER TABLE cm3 TRUNCATE PARTITION p0;
ALTER TABLE cm3 REMOVE PARTITIONING;
CREATE TABLE idx (id INT, a VARCHAR(10), b TEXT, g POINT NOT NULL, FULLTEXT INDEX ft (b), SPATIAL INDEX (g), INDEX (a(3)) COMMENT 'x', UNIQUE KEY USING HASH (b(20)), KEY ign (id) IGNORED);
ALTER TABLE idx ALTER INDEX ign NOT IGNORED, RENAME INDEX ign TO ign2, RENAME KEY ft TO ft2, DISABLE KEYS;
ALTER TABLE idx ENABLE KEYS;
CREATE TABLE fk_parent (id INT PRIMARY KEY);
CREATE TABLE fk_child (id INT, pid INT REFERENCES fk_parent (id) MATCH FULL, CONSTRAINT fk1 FOREIGN KEY (pid) REFERENCES fk_parent (id) ON UPDATE SET NULL, CONSTRAINT ck1 CHECK (id > 0), CHECK (id <> 3));
ALTER TABLE fk_child DROP FOREIGN KEY fk1, DROP CONSTRAINT ck1, ADD CONSTRAINT ck2 CHECK (id < 100);
CREATE INDEX cix ON fk_child (id);
CREATE OR REPLACE INDEX cix ON fk_child (id, pid);
DROP INDEX cix ON fk_child;
ANALYZE TABLE fk_child;
OPTIMIZE TABLE fk_child;
CREATE VIEW v1 AS SELECT * FROM fk_child;
CREATE OR REPLACE VIEW v1 AS SELECT id FROM fk_child;
DROP VIEW v1;
CREATE TRIGGER trg BEFORE INSERT ON fk_child FOR EACH ROW SET NEW.id = NEW.id;
DROP TRIGGER trg;
TRUNCATE TABLE fk_child;
CREATE TEMPORARY TABLE tmp1 (id INT);
ALTER TABLE tmp1 ADD COLUMN x INT;
DROP TEMPORARY TABLE tmp1;

-- Tables renamed, dropped and made again.
CREATE TABLE again (id INT);
DROP TABLE again;
CREATE TABLE again (id VARCHAR(3), x INT);
DROP TABLE IF EXISTS again2, again;
CREATE TABLE again (y DATE);

-- A VARCHAR too long for a row is a TEXT when sql_mode is not strict.
SET STATEMENT sql_mode = '' FOR CREATE TABLE big (a VARCHAR(70000), b VARCHAR(20000), c VARBINARY(70000), e VARCHAR(100000) CHARACTER SET latin1, f VARCHAR(16000));
SET STATEMENT sql_mode = '' FOR ALTER TABLE big ADD COLUMN g VARCHAR(30000) CHARACTER SET utf8mb3;

-- Words that could start a clause, as column names.
CREATE TABLE n (id INT, period INT, system INT, vector INT, row INT, `key` INT, PRIMARY KEY (id, row));
ALTER TABLE n DROP COLUMN period, DROP COLUMN system, ADD COLUMN status INT AFTER vector;
ALTER TABLE n CHANGE vector rank INT;
ALTER TABLE n ADD COLUMN period INT FIRST, ADD COLUMN system DATE AFTER row;

-- Identifiers in double quotes under ANSI_QUOTES (the binlog carries the
-- statement's sql_mode).
SET SESSION sql_mode = 'ANSI_QUOTES,STRICT_TRANS_TABLES';
CREATE TABLE "ansi q" ("a b" INT PRIMARY KEY, "c""d" VARCHAR(3) DEFAULT 'x');
ALTER TABLE "ansi q" ADD COLUMN "e" INT AFTER "a b";
SET STATEMENT max_statement_time = 5 FOR ALTER TABLE "ansi q" ADD COLUMN "f" DATE;
SET SESSION sql_mode = DEFAULT;
SET STATEMENT sql_mode = 'ANSI_QUOTES' FOR ALTER TABLE `ansi q` ADD COLUMN `g` VARCHAR(2) DEFAULT "y";
CREATE TABLE dq (a VARCHAR(3) DEFAULT "x");

-- Shapes from dumps and migration tools.
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8 */;
DROP TABLE IF EXISTS `wp_posts`;
CREATE TABLE `wp_posts` (
  `ID` bigint(20) unsigned NOT NULL auto_increment,
  `post_author` bigint(20) unsigned NOT NULL default '0',
  `post_date` datetime NOT NULL default '0000-00-00 00:00:00',
  `post_content` longtext NOT NULL,
  `post_title` text NOT NULL,
  `post_status` varchar(20) NOT NULL default 'publish',
  `comment_count` bigint(20) NOT NULL default '0',
  `menu_order` int(11) NOT NULL DEFAULT '0',
  `price` decimal(12,4) NOT NULL DEFAULT '0.0000' COMMENT 'it''s the \'price\'',
  `updated_at` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'Updated At',
  `flags` int(10) unsigned zerofill DEFAULT NULL,
  `slug` varchar(200) CHARACTER SET utf8 COLLATE utf8_unicode_ci NOT NULL DEFAULT '',
  PRIMARY KEY  (`ID`),
  KEY `post_name` (`slug`(191)),
  KEY `type_status_date` (`post_status`,`post_date`,`ID`),
  FULLTEXT KEY `ft` (`post_title`)
) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci COMMENT='Posts';
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40000 ALTER TABLE `wp_posts` DISABLE KEYS */;
/*!40000 ALTER TABLE `wp_posts` ENABLE KEYS */;
CREATE TABLE `schema_migrations` (`version` varchar(255) NOT NULL PRIMARY KEY) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE `users` (`id` bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, `email` varchar(255) DEFAULT '' NOT NULL, `created_at` datetime(6) NOT NULL, `updated_at` datetime(6) NOT NULL, `admin` tinyint(1) DEFAULT FALSE, `settings` json);
CREATE UNIQUE INDEX `index_users_on_email` ON `users` (`email`);
ALTER TABLE `users` ADD `locale` varchar(255) DEFAULT 'en' NOT NULL, ADD `last_seen_at` datetime(6);
ALTER TABLE `users` CHANGE `locale` `locale` varchar(10) DEFAULT 'en' NOT NULL;
CREATE TABLE `accounts` (`id` bigint NOT NULL AUTO_INCREMENT PRIMARY KEY);
ALTER TABLE `users` ADD `account_id` bigint, ADD CONSTRAINT `fk_rails_1` FOREIGN KEY (`account_id`) REFERENCES `accounts` (`id`);
ALTER TABLE `users` DROP FOREIGN KEY `fk_rails_1`;
ALTER TABLE `users` MODIFY `email` varchar(320) NULL;
ALTER TABLE users RENAME COLUMN last_seen_at TO seen_at;
CREATE TABLE `django_app_item` (`id` integer AUTO_INCREMENT NOT NULL PRIMARY KEY, `name` varchar(100) NOT NULL, `price` numeric(10, 2) NOT NULL, `owner_id` bigint NULL, `uuid` char(32) NOT NULL UNIQUE, `created` datetime(6) NOT NULL);
ALTER TABLE `django_app_item` ADD COLUMN `active` bool DEFAULT b'1' NOT NULL;
ALTER TABLE `django_app_item` ALTER COLUMN `active` DROP DEFAULT;
ALTER TABLE `django_app_item` ADD CONSTRAINT `django_app_item_owner_id_fk` FOREIGN KEY (`owner_id`) REFERENCES `users` (`id`);
CREATE INDEX `django_app_item_name_idx` ON `django_app_item` (`name`);
ALTER TABLE `django_app_item` ADD COLUMN `score` double precision DEFAULT 0 NOT NULL, ADD COLUMN `blob` longblob NULL;
CREATE TABLE flyway_history (installed_rank INT NOT NULL, version VARCHAR(50), description VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INT, installed_by VARCHAR(100) NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, execution_time INT NOT NULL, success BOOL NOT NULL, CONSTRAINT flyway_history_pk PRIMARY KEY (installed_rank)) ENGINE=InnoDB;
CREATE TABLE `magento_entity` (
  `entity_id` int(10) unsigned NOT NULL AUTO_INCREMENT COMMENT 'Entity ID',
  `attribute_set_id` smallint(5) unsigned NOT NULL DEFAULT 0 COMMENT 'Attribute Set ID',
  `type_id` varchar(32) NOT NULL DEFAULT 'simple' COMMENT 'Type ID',
  `sku` varchar(64) NOT NULL COMMENT 'SKU',
  `has_options` smallint(6) NOT NULL DEFAULT 0 COMMENT 'Has Options',
  `created_at` timestamp NOT NULL DEFAULT current_timestamp() COMMENT 'Creation Time',
  `updated_at` timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp() COMMENT 'Update Time',
  PRIMARY KEY (`entity_id`),
  KEY `CATALOG_PRODUCT_ENTITY_ATTRIBUTE_SET_ID` (`attribute_set_id`),
  KEY `CATALOG_PRODUCT_ENTITY_SKU` (`sku`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci COMMENT='Catalog Product Table';

-- Statements sent in another client character set (the binlog's QUERY
-- event carries character_set_client): names, members and defaults.
SET NAMES latin1;
CREATE TABLE latin1_client (`cafés` INT, e ENUM('é', 'ü') CHARACTER SET utf8mb4, s SET('ñ', 'ø'), v VARCHAR(3) DEFAULT 'à');
SET NAMES utf8mb4;

-- ALTER TABLE db.t RENAME t2: an unqualified new name is in the default
-- database, not in the table's.
CREATE TABLE other_db.moving (a INT, b VARCHAR(3));
ALTER TABLE other_db.moving RENAME moved_here;
ALTER TABLE moved_here ADD COLUMN c DATE;
