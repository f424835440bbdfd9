"""Search benchmark (issue: search). Prints figures; not a pass/fail test.

Generates realistic contact-center messages in English and Chinese (N configurable, fixed seed) as
`SearchDocument`s, with no database, and measures the configured backend (embedded tantivy by default):

1. index:   indexing throughput, messages/s: (a) bulk, the `hub reindex` path (begin_rebuild -> index(batch)
            -> finish) for all N; (b) live, the indexer's path (index(batch of 500), a commit each) into a fresh
            index; and the size of the index on disk.
2. query:   query latency on that index, p50/p95/p99 per class of query and overall, warm (after a warm-up
            pass): the backend requests search/service.py makes for a first page of conversations and for a
            page of messages, as a supervisor and as an agent of two teams; and the cost of a deep page
            (date-sorted page 50 continued with `after`).
3. latency: commit-to-searchable through the real hub path: Django on a fresh database (SQLite, and the
            PostgreSQL `hub_bench` when reachable), HUB_TASK_MODE=inprocess so the indexer runs in the
            process after each commit (search/indexer.py kick()), messages ingested through
            hub.actions.ingestion.do_ingest_message at a steady rate, each polled for until its unique token
            is found. The index starts pre-filled: a copy of the index built by `index` (or --dir), otherwise
            --prefill generated documents.

    .venv/bin/python bench/search.py                            # everything, N = 1,000,000
    .venv/bin/python bench/search.py --n 100000 --queries 3     # a quicker run
    .venv/bin/python bench/search.py --only index --dir /tmp/hub-search-1m      # build once, keep it
    .venv/bin/python bench/search.py --only query --dir /tmp/hub-search-1m      # then query it again
    .venv/bin/python bench/search.py --only latency --dir /tmp/hub-search-1m --rate 20 --seconds 30
    HUB_ELASTICSEARCH_URL=http://127.0.0.1:9200 .venv/bin/python bench/search.py --backend elasticsearch
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder comes first on sys.path, and this very file (bench/search.py) would hide the
# `search` package it measures: the project root takes its place.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent)]

from bench.ingest import PG_BENCH, SECRET, _recreate_pg  # noqa: E402
from search import query as q  # noqa: E402
from search.backend import (  # noqa: E402
    BackendQuery,
    BackendResult,
    BackendUnavailable,
    SearchBackend,
    SearchDocument,
    Sort,
    Visibility,
)

SEED = 20261123
# Synthetic ids start high, so that the messages the latency run ingests (ids 1, 2, ...) never share an id
# with a pre-filled document: the live writer would then replace it instead of adding a document.
ID_BASE = 10_000_000
END = datetime(2026, 11, 30, tzinfo=UTC)
SPAN = timedelta(days=548)  # about 18 months of history
ES_INDEX = "hub-bench-messages"
UTC_TZ = ZoneInfo("UTC")  # hub.settings.TIME_ZONE: months and after:/before: days are in it
# What search/service.py asks for (FACETS, page sizes): kept in step with it by hand, because importing the
# service needs Django and a database, which the index and query parts do without.
FACETS = ("channel", "agent", "team", "tag", "month")
PAGE_SIZE = 20
STREAM_BATCH = max(50, PAGE_SIZE * 5)
SUPERVISOR = Visibility(None, 0)
AGENT = Visibility((1, 2), 7)


# --- The world: teams, agents, customers -----------------------------------------------------------------

TEAMS = {1: "billing", 2: "returns", 3: "delivery", 4: "accounts", 5: "escalations", 6: "general"}
AGENT_NAMES = [
    ("alice", "Alice Chen"), ("bob", "Bob Miller"), ("carol", "Carol Davis"), ("dave", "Dave Wilson"),
    ("erin", "Erin Moore"), ("frank", "Frank Taylor"), ("grace", "Grace Liu"), ("henry", "Henry Brown"),
    ("ivy", "Ivy Zhang"), ("jack", "Jack Thomas"), ("kate", "Kate Jackson"), ("leo", "Leo White"),
    ("mia", "Mia Harris"), ("nina", "Nina Martin"), ("oscar", "Oscar Garcia"), ("paul", "Paul Clark"),
    ("wang.fang", "王芳"), ("li.na", "李娜"), ("zhang.wei", "张伟"), ("liu.yang", "刘洋"), ("chen.jing", "陈静"),
    ("yang.min", "杨敏"), ("zhao.lei", "赵磊"), ("huang.li", "黄丽"), ("zhou.jie", "周杰"), ("wu.hao", "吴昊"),
    ("xu.ming", "徐明"), ("sun.li", "孙丽"), ("ma.chao", "马超"), ("zhu.qing", "朱青"), ("hu.bin", "胡斌"),
    ("guo.hua", "郭华"), ("sam", "Sam Lewis"), ("tina", "Tina Walker"), ("uma", "Uma Hall"), ("victor", "Victor Young"),
]
EN_FIRST = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
            "William", "Susan", "Richard", "Jessica", "Joseph", "Sarah", "Thomas", "Karen", "Chris", "Emma",
            "Daniel", "Olivia", "Matthew", "Sophia", "Anthony", "Mia", "Mark", "Amelia", "Steven", "Harper"]
EN_LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
           "Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Lee", "Walker"]
ZH_SURNAMES = [("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
               ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun")]
ZH_GIVEN = [("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"), ("丽", "Li"),
            ("强", "Qiang"), ("磊", "Lei"), ("军", "Jun"), ("洋", "Yang"), ("勇", "Yong"), ("艳", "Yan"),
            ("杰", "Jie"), ("涛", "Tao"), ("明", "Ming"), ("超", "Chao"), ("秀英", "Xiuying"), ("桂英", "Guiying")]


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    text: str       # SearchDocument.customer: the name and the addresses
    lang: str       # "en", "zh" or "mixed": the language of their messages


@dataclass(frozen=True)
class Agent:
    user_id: int
    username: str
    display: str
    teams: tuple[int, ...]


def _agents() -> list[Agent]:
    """36 agents, six per team; agent 7 (the one the agent-visibility queries search as) is in billing and
    returns, like Visibility((1, 2), 7)."""
    agents = []
    for i, (username, display) in enumerate(AGENT_NAMES, start=1):
        team = (i - 1) % 6 + 1
        teams = (1, 2) if i == 7 else (team,)
        agents.append(Agent(i, username, display, teams))
    return agents


def _customers(rng: random.Random, count: int) -> list[Customer]:
    out = []
    for i in range(count):
        roll = rng.random()
        phone = f"+1{rng.randint(2012000000, 9899999999)}" if rng.random() < 0.6 else \
            f"+86 1{rng.randint(3000000000, 9999999999)}"
        if roll < 0.45:
            first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
            name = f"{first} {last}"
            email = f"{first.lower()}.{last.lower()}{i % 97}@example.com"
            lang = "en"
        else:
            (surname, s_pinyin), (given, g_pinyin) = rng.choice(ZH_SURNAMES), rng.choice(ZH_GIVEN)
            # Chinese customers show up under their characters or their pinyin ("Li Wei"), as providers report.
            name = surname + given if roll < 0.8 else f"{s_pinyin} {g_pinyin}"
            email = f"{s_pinyin.lower()}.{g_pinyin.lower()}{i % 97}@example.cn"
            lang = "zh" if roll < 0.9 else "mixed"
        addresses = [email] if rng.random() < 0.5 else [phone] if rng.random() < 0.6 else [email, phone]
        out.append(Customer(i + 1, name, " \n".join([name, *addresses]), lang))
    return out


# --- The messages --------------------------------------------------------------------------------------

TOPICS = ("billing", "refund", "return", "delivery", "login", "invoice", "account", "complaint", "product")
TOPIC_WEIGHTS = (14, 14, 11, 18, 9, 7, 8, 7, 12)
TOPIC_TEAM = {"billing": 1, "refund": 1, "invoice": 1, "return": 2, "delivery": 3, "login": 4, "account": 4,
              "complaint": 5, "product": 6}
TOPIC_TAGS = {"billing": ("billing",), "refund": ("refund", "billing"), "invoice": ("invoice", "billing"),
              "return": ("return",), "delivery": ("delivery", "late"), "login": ("login", "password-reset"),
              "account": ("account",), "complaint": ("complaint", "escalated"), "product": ("product", "question")}
EXTRA_TAGS = ("vip", "urgent", "chargeback", "damaged", "repeat-contact", "fraud-check", "wholesale", "feedback")
CHANNELS = ("sms", "email", "webchat", "social", "slack", "voice")
CHANNEL_WEIGHTS = (20, 30, 25, 12, 5, 8)
PRODUCTS_EN = ["wireless earbuds", "Galaxy S24", "iPhone 15 case", "air fryer", "standing desk", "4K monitor",
               "running shoes", "coffee machine", "robot vacuum", "yoga mat", "winter jacket", "kids' tablet",
               "ThinkPad X1", "smart watch", "electric toothbrush", "office chair", "gift card", "mattress"]
PRODUCTS_ZH = ["蓝牙耳机", "空气炸锅", "扫地机器人", "电动牙刷", "羽绒服", "跑步鞋", "咖啡机", "显示器", "手机壳",
               "智能手表", "办公椅", "床垫", "儿童平板", "礼品卡", "保温杯", "电饭煲"]
CARRIERS = ["UPS", "FedEx", "DHL", "USPS", "顺丰", "中通", "圆通", "京东物流"]

EN_IN = {
    "billing": ["I was charged twice for order {o}, {a} each time. Can you fix my bill?",
                "Why is my bill {a} this month? I only bought the {p}.",
                "My credit card was charged {a} but the order {o} still shows unpaid.",
                "There's a charge of {a} on my statement I don't recognise."],
    "refund": ["I returned the {p} two weeks ago and still haven't got my refund of {a}.",
               "When will the refund for order {o} reach my credit card?",
               "Please refund {a} for the {p}, it arrived broken.",
               "You promised a refund for {o} but nothing has come through yet."],
    "return": ["How do I return the {p}? It's the wrong size.",
               "I want to send back order {o}, can you email me a return label?",
               "The return window for the {p} — is it 30 days?",
               "I dropped off the return for {o} at the post office, tracking says delivered to your warehouse."],
    "delivery": ["Where is my package? Order {o} was supposed to arrive on {d}.",
                 "The tracking number for {o} hasn't updated in 5 days ({c}).",
                 "My {p} was delivered to the wrong address.",
                 "Delivery is late again, order {o} via {c}. I need it before the weekend.",
                 "The courier left the parcel outside in the rain, the {p} box is soaked."],
    "login": ["I can't log in to my account, the password reset email never arrives.",
              "Login keeps saying my password is wrong even after I reset it.",
              "My account is locked after too many login attempts.",
              "The two-factor code doesn't come through by SMS."],
    "invoice": ["Can you send me a VAT invoice for order {o}?",
                "The invoice for {o} has the wrong company name on it.",
                "I need an invoice with my tax number for the {p}, total {a}.",
                "Where can I download the invoice for last month?"],
    "account": ["Please update the email address on my account.",
                "How do I delete my account and my data?",
                "I'd like to change the delivery address saved on my account to a new one.",
                "Can you merge my two accounts? I used different emails."],
    "complaint": ["This is the third time I'm writing about order {o}. Terrible service.",
                  "I want to file a complaint: your agent hung up on me.",
                  "The {p} stopped working after a week and nobody answers. Very disappointed.",
                  "I'm going to dispute the {a} charge with my bank if this isn't solved today."],
    "product": ["Does the {p} come with a warranty?",
                "Is the {p} compatible with a 220V socket?",
                "Is the {p} back in stock? I'd like to order two.",
                "What's the difference between the {p} and the newer model?"],
}
ZH_IN = {
    "billing": ["我的账单有问题，订单{o}被扣了两次{a}。", "这个月账单怎么是{a}？我只买了{p}。",
                "信用卡扣款{a}，但是订单{o}显示未付款。", "账单上有一笔{a}的扣款我不认识。"],
    "refund": ["{p}已经退回两周了，退款{a}还没到账。", "订单{o}的退款什么时候能到？", "{p}收到就是坏的，请给我退款。",
               "说好的退款到现在还没收到，订单号{o}。"],
    "return": ["{p}尺码不对，怎么退货？", "我要退货，订单{o}，请发一个退货单给我。", "{p}可以七天无理由退货吗？",
               "退货已经寄出了，快递单号在这里，订单{o}。"],
    "delivery": ["我的快递到哪里了？订单{o}说{d}送到的。", "物流信息五天没有更新了，{c}。", "{p}送错地址了。",
                 "快递太慢了，订单{o}，周末前一定要收到。", "快递员把包裹放在门口，{p}的盒子都湿了。",
                 "我还没有收到货，物流显示已签收。"],
    "login": ["登录不了，重置密码的邮件一直收不到。", "密码重置以后还是提示密码错误。",
              "账户被锁定了，登录失败太多次。", "短信验证码收不到，没办法登录。"],
    "invoice": ["请给订单{o}开发票。", "发票抬头写错了，订单{o}。", "我需要增值税专用发票，{p}，金额{a}。",
                "上个月的发票在哪里下载？"],
    "account": ["请帮我修改账户绑定的手机号。", "怎么注销账户并删除我的数据？", "账户里的收货地址要改一下。",
                "我有两个账户，能合并吗？"],
    "complaint": ["这是我第三次联系你们了，订单{o}还是没解决，我要投诉！", "客服态度太差了，我要投诉。",
                  "{p}用了一周就坏了，一直没人回复，非常失望。", "今天不解决我就找银行拒付这笔{a}。"],
    "product": ["{p}有保修吗？", "{p}什么时候有货？我想买两个。", "{p}和新款有什么区别？", "{p}支持快充吗？"],
}
EN_OUT = {
    "billing": ["I've checked order {o}: the second charge of {a} was a pre-authorisation and drops off in 3-5 days.",
                "I've corrected your bill and credited {a} to your account."],
    "refund": ["I've issued a refund of {a} for order {o}; it takes 5-10 business days to reach your card.",
               "Your refund for the {p} has been approved and processed today."],
    "return": ["I've emailed you a prepaid return label for order {o}.",
               "Once the {p} reaches our warehouse we'll process your return within 48 hours."],
    "delivery": ["I've contacted {c}: order {o} is now due on {d}. Here is the updated tracking number.",
                 "I'm sorry the {p} went to the wrong address; a replacement ships today by express delivery."],
    "login": ["I've sent a new password reset link; please check your spam folder too.",
              "Your account is unlocked now, you can log in again."],
    "invoice": ["Please find attached the invoice for order {o}.",
                "I've reissued the invoice with the correct details."],
    "account": ["Your account details are updated.", "Your request to close the account has been received."],
    "complaint": ["I'm very sorry for the trouble with order {o}. I've escalated this to my supervisor.",
                  "I understand your frustration; as a goodwill gesture I've added a {a} credit."],
    "product": ["Yes, the {p} comes with a 2-year warranty.", "The {p} will be back in stock on {d}."],
}
ZH_OUT = {
    "billing": ["已经查过订单{o}，第二笔{a}是预授权，3-5个工作日会自动退回。", "账单已更正，{a}已退回到您的账户。"],
    "refund": ["已为您办理退款{a}，订单{o}，预计5-10个工作日到账。", "{p}的退款已审核通过，今天已处理。"],
    "return": ["退货单已经发到您的邮箱，订单{o}。", "{p}到仓库后48小时内为您处理退货。"],
    "delivery": ["已联系{c}，订单{o}预计{d}送达，这是新的快递单号。", "很抱歉{p}送错了地址，今天给您补发快递。"],
    "login": ["已重新发送密码重置链接，请查看垃圾邮件。", "账户已解锁，可以重新登录了。"],
    "invoice": ["订单{o}的发票已发送到您的邮箱。", "发票已重新开具，抬头已更正。"],
    "account": ["账户信息已更新。", "注销申请已收到。"],
    "complaint": ["非常抱歉给您带来不便，订单{o}已升级给主管处理。", "理解您的心情，已为您补偿{a}优惠券。"],
    "product": ["{p}有两年保修。", "{p}预计{d}到货。"],
}
NOTES = ["Customer called twice about {o}, escalate if no answer by tomorrow.",
         "Checked with finance: refund {a} approved, waiting for the bank.", "Possible fraud, do not refund yet.",
         "VIP customer, handle with priority.", "客户情绪激动，已升级处理。", "财务确认退款{a}，等待银行处理。",
         "物流问题，已联系{c}核实。", "Duplicate of an earlier ticket about {o}; merged.", "客户要求开发票，已转财务。"]
EN_GREET_IN = ["Hi,", "Hello,", "Hey there,", "Good morning,", "Hi team,", "", "", ""]
EN_SIGN_IN = ["Thanks.", "Thank you!", "Regards", "Cheers", "Please help.", "", "", ""]
ZH_GREET_IN = ["你好，", "您好，", "在吗？", "客服你好，", "", ""]
ZH_SIGN_IN = ["谢谢！", "麻烦尽快处理。", "谢谢。", "", ""]
EN_GREET_OUT = ["Hi {n},", "Hello {n},", "Thanks for reaching out, {n}.", "Hi,"]
EN_SIGN_OUT = ["Best regards,", "Is there anything else I can help with?", "Have a nice day!", "Kind regards,"]
ZH_GREET_OUT = ["您好，", "{n}您好，", "亲，", "您好，感谢您的耐心等待。"]
ZH_SIGN_OUT = ["还有什么可以帮您？", "祝您生活愉快！", "感谢您的支持。", ""]
MIXED = {
    "billing": ["bill 上多扣了 {a}，order {o}。"],
    "refund": ["refund 什么时候到账？{a}", "order {o} 的 refund 还没收到。"],
    "return": ["{p} 不能用了，可以 return 吗？"], "delivery": ["我的 order {o} 还没到，tracking number 也查不到。"],
    "login": ["login 不了，password reset 没收到邮件。"], "invoice": ["invoice 开错了，麻烦重开，order {o}。"],
    "account": ["account 的 email 要改一下。"], "complaint": ["第三次联系了，order {o} 还是没解决，terrible service！"],
    "product": ["{p} 有 warranty 吗？"],
}


def _pick(rng: random.Random, items: Sequence[str]) -> str:
    return items[int(rng.random() * len(items))]


def _weights(items: Sequence[str], weights: Sequence[int]) -> list[str]:
    """A list where each item appears `weight` times: a uniform pick from it is a weighted pick, at the cost
    of one random() instead of random.choices' bisection per call."""
    return [item for item, w in zip(items, weights, strict=True) for _ in range(w)]


def generate(n: int, seed: int = SEED, batch: int = 5000, id_base: int = ID_BASE) -> Iterator[list[SearchDocument]]:
    """`n` documents in batches of `batch`, in conversation order: conversations of 1 to 40 messages (7 on
    average) whose start times spread evenly over the 18 months before END, ids increasing as the database
    gives them. The same (n, seed) gives the same documents."""
    rng = random.Random(seed)
    agents = _agents()
    by_team = {t: [a for a in agents if t in a.teams] for t in TEAMS}
    customers = _customers(rng, max(200, n // 14))
    topics = _weights(TOPICS, TOPIC_WEIGHTS)
    channels = _weights(CHANNELS, CHANNEL_WEIGHTS)
    start = END - SPAN
    span_s = SPAN.total_seconds()
    out: list[SearchDocument] = []
    made = 0
    conv_id = message_id = note_id = id_base
    while made < n:
        conv_id += 1
        topic = topics[int(rng.random() * len(topics))]
        customer = customers[int(rng.random() * len(customers))]
        channel = channels[int(rng.random() * len(channels))]
        team_id = TOPIC_TEAM[topic] if rng.random() < 0.9 else 0
        pool = by_team.get(team_id) or agents
        assignee = pool[int(rng.random() * len(pool))] if rng.random() < 0.9 else None
        tags = set(TOPIC_TAGS[topic][:1 + int(rng.random() * 2)])
        if rng.random() < 0.3:
            tags.add(_pick(rng, EXTRA_TAGS))
        moment = start + timedelta(seconds=span_s * made / n + rng.random() * 3600)
        age_days = (END - moment).days
        roll = rng.random()
        if age_days > 14:
            status = "resolved" if roll < 0.92 else "snoozed" if roll < 0.94 else "pending" if roll < 0.97 else "open"
        else:
            status = "open" if roll < 0.45 else "pending" if roll < 0.7 else "snoozed" if roll < 0.78 else "resolved"
        sentiment = "negative" if topic == "complaint" or rng.random() < 0.1 else "neutral"
        length = min(40, 1 + int(rng.expovariate(1 / 6)), n - made)
        lang = customer.lang
        team = TEAMS.get(team_id, "")
        first_name = customer.name.split(" ")[0]
        gap = 14400.0 if channel == "email" else 240.0  # mean seconds between messages
        tag_tuple = tuple(sorted(tags))
        # A conversation is about one order, one product, one amount: its messages share them.
        slots = {"o": f"#{10_000_000 + int(rng.random() * 89_999_999)}", "d": f"{moment + timedelta(days=3):%b %d}",
                 "p": _pick(rng, PRODUCTS_ZH if lang == "zh" else PRODUCTS_EN), "c": _pick(rng, CARRIERS),
                 "a": f"¥{19 + int(rng.random() * 2980)}" if lang == "zh" else f"${5 + rng.random() * 895:.2f}",
                 "n": first_name}
        for position in range(length):
            roll = rng.random()
            if position > 0 and roll < 0.05:
                direction = "note"
            elif position == 0 or roll < 0.55:
                direction = "in"
            else:
                direction = "out"
            if direction == "note":
                author = assignee or _pick_agent(rng, pool)
                text = _pick(rng, NOTES).format(**slots)
                author_name, author_login = author.display, author.username
            elif direction == "in":
                if lang == "mixed" or (lang == "zh" and rng.random() < 0.08):
                    text = _pick(rng, MIXED[topic]).format(**slots)
                elif lang == "zh":
                    text = _pick(rng, ZH_GREET_IN) + _pick(rng, ZH_IN[topic]).format(**slots) + _pick(rng, ZH_SIGN_IN)
                else:
                    text = " ".join(p for p in (_pick(rng, EN_GREET_IN), _pick(rng, EN_IN[topic]).format(**slots),
                                                _pick(rng, EN_SIGN_IN)) if p)
                if channel == "email":  # e-mails say more, and sign with a name
                    more = _pick(rng, ZH_IN[topic] if lang == "zh" else EN_IN[topic]).format(**slots)
                    text = f"{text}\n{more}\n{customer.name}"
                if channel == "voice":
                    text = "[voicemail transcript] " + text
                author_name, author_login = customer.name, ""
            else:
                author = assignee or _pick_agent(rng, pool)
                if lang == "en":
                    text = " ".join((_pick(rng, EN_GREET_OUT).format(**slots),
                                     _pick(rng, EN_OUT[topic]).format(**slots), _pick(rng, EN_SIGN_OUT),
                                     author.display))
                else:
                    text = _pick(rng, ZH_GREET_OUT).format(**slots) + _pick(rng, ZH_OUT[topic]).format(**slots) + \
                        _pick(rng, ZH_SIGN_OUT)
                author_name, author_login = author.display, author.username
            if direction == "note":
                note_id += 1
                doc_id = f"n{note_id}"
            else:
                message_id += 1
                doc_id = f"m{message_id}"
            agent_set = {assignee.username} if assignee else set()
            if author_login:
                agent_set.add(author_login)
            out.append(SearchDocument(
                id=doc_id, conversation_id=conv_id, customer_id=id_base + customer.id,
                text=text, customer=customer.text, channel=channel, direction=direction,  # type: ignore[arg-type]
                author=author_name, agents=tuple(sorted(agent_set)), team=team, team_id=team_id,
                assignee_id=assignee.user_id if assignee else 0, tags=tag_tuple, status=status, sentiment=sentiment,
                public=direction != "note", note=direction == "note",
                has_attachment=rng.random() < (0.08 if channel == "email" else 0.02),
                created_at=moment, month=f"{moment.year}-{moment.month:02d}", version=1))  # strftime: 5 us
            moment += timedelta(seconds=rng.expovariate(1 / gap))
            made += 1
            if len(out) >= batch:
                yield out
                out = []
    if out:
        yield out


def _pick_agent(rng: random.Random, pool: list[Agent]) -> Agent:
    return pool[int(rng.random() * len(pool))]


def generate_all(n: int, seed: int, batch: int, id_base: int = ID_BASE) -> tuple[list[list[SearchDocument]], float]:
    """Every batch in memory before the clock starts, so that generation (which the hub does not do: it
    reads the database) neither counts nor competes for the 2 cores with the engine's indexing threads."""
    t0 = time.perf_counter()
    batches = list(generate(n, seed, batch, id_base))
    return batches, time.perf_counter() - t0


# --- Backends ------------------------------------------------------------------------------------------

def make_backend(kind: str, root: Path, es_index: str = ES_INDEX) -> SearchBackend:
    if kind == "elasticsearch":
        from search.elastic import ElasticsearchBackend

        # A long request timeout: a bulk load keeps the single node busy.
        return ElasticsearchBackend(os.environ["HUB_ELASTICSEARCH_URL"], es_index, request_timeout=120)
    from search.embedded import EmbeddedBackend

    return EmbeddedBackend(root)


def _drop_es_index(backend: SearchBackend, alias: str) -> None:
    """Delete the versioned indices behind `alias` and its template, by name (wildcard deletes are refused
    on clusters with action.destructive_requires_name)."""
    client = backend.client  # type: ignore[attr-defined]
    found = client.options(ignore_status=404).indices.get(index=f"{alias}-v*")
    names = list(found.body) if found.meta.status == 200 else []
    if names:
        client.options(ignore_status=404).indices.delete(index=",".join(names))
    client.options(ignore_status=404).indices.delete_index_template(name=alias)


def disk_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def index_size(backend: SearchBackend, root: Path) -> int:
    if backend.name == "elasticsearch":
        stats = backend.client.indices.stats(index=ES_INDEX, metric="store")  # type: ignore[attr-defined]
        return int(stats["_all"]["primaries"]["store"]["size_in_bytes"])
    return disk_size(root)


def _load() -> str:
    """The machine is shared: the load when a part starts says how far its figures can be trusted."""
    return f"load average {os.getloadavg()[0]:.2f}"


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


# --- 1. Indexing ---------------------------------------------------------------------------------------

def run_index(kind: str, root: Path, n: int, batch: int, live_n: int, live_batch: int) -> dict[str, Any]:
    print(f"# Indexing ({kind}): generating {n:,} documents (seed {SEED}) ... {_load()}", flush=True)
    batches, gen_s = generate_all(n, SEED, batch)
    chars = sum(len(d.text) for b in batches for d in b)
    notes = sum(d.note for b in batches for d in b)
    zh = sum(any(q.is_cjk(c) for c in d.text[:40]) for b in batches[:20] for d in b)
    sample = sum(len(b) for b in batches[:20])
    print(f"generated in {gen_s:.1f} s ({n / gen_s:,.0f} docs/s): {chars / n:.0f} characters per message on "
          f"average, {notes / n:.1%} notes, {zh / sample:.0%} with Chinese text", flush=True)

    backend = make_backend(kind, root)
    backend.ensure_index()
    t0 = time.perf_counter()
    rebuild = backend.begin_rebuild()
    for docs in batches:
        rebuild.index(docs)
    t_calls = time.perf_counter() - t0
    rebuild.finish()
    bulk_s = time.perf_counter() - t0
    del batches
    size = index_size(backend, root)
    count = backend.count()
    print(f"bulk (begin_rebuild -> index({batch}) x {n // batch} -> finish): {n:,} docs in {bulk_s:.1f} s "
          f"({t_calls:.1f} s in index(), {bulk_s - t_calls:.1f} s in finish()) -> {n / bulk_s:,.0f} docs/s; "
          f"index {_mb(size)} on disk ({size / n:.0f} bytes/doc), {count:,} documents", flush=True)
    backend.close()

    # The live path into a fresh index: what the indexer does (each batch checked against the versions
    # already indexed, then committed).
    live_root = Path(tempfile.mkdtemp(prefix="hub-bench-live-"))
    live_batches, _ = generate_all(live_n, SEED + 1, live_batch, id_base=ID_BASE * 5)
    live = make_backend(kind, live_root, es_index=ES_INDEX + "-live")
    live.ensure_index()
    times: list[float] = []
    t0 = time.perf_counter()
    for docs in live_batches:
        t1 = time.perf_counter()
        live.index(docs)
        times.append(time.perf_counter() - t1)
    live.refresh()
    live_s = time.perf_counter() - t0
    tenth = max(1, len(times) // 10)
    first, last = statistics.mean(times[:tenth]), statistics.mean(times[-tenth:])
    print(f"live (index({live_batch}) + commit, x {len(live_batches)}): {live_n:,} docs in {live_s:.1f} s -> "
          f"{live_n / live_s:,.0f} docs/s; a batch took {first * 1000:.0f} ms in the first tenth, "
          f"{last * 1000:.0f} ms in the last", flush=True)
    if kind == "elasticsearch":
        _drop_es_index(live, ES_INDEX + "-live")
    live.close()
    shutil.rmtree(live_root, ignore_errors=True)
    return {"n": n, "generate_s": gen_s, "bulk_s": bulk_s, "bulk_rate": n / bulk_s, "size": size,
            "live_n": live_n, "live_s": live_s, "live_rate": live_n / live_s}


# --- 2. Queries ----------------------------------------------------------------------------------------

# Each class of the mix with the queries that stand for it (the query language of docs/search.md).
QUERY_MIX: dict[str, list[str]] = {
    "word (en)": ["refund", "invoice", "password", "warranty", "broken", "courier"],
    "two words (en)": ["refund card", "late delivery", "reset password", "return label", "wrong address"],
    "word (zh)": ["退款", "退货", "快递", "发票", "账单", "物流", "密码"],
    "mixed zh/en": ["refund 到账", "order 没到", "return 可以"],
    "phrase": ['"credit card"', '"tracking number"', '"还没收到"', '"wrong address"', '"return label"'],
    "exclusion": ["refund -card", "退货 -退款", "delivery -late", "invoice -vat"],
    "OR": ["refund OR chargeback", "退款 OR 退货", "invoice OR 发票", "login OR 登录"],
    "text + filter": ["refund channel:email", "退款 status:open", "password team:accounts",
                      "delivery after:2026-09-01", "invoice tag:billing", "发票 agent:wang.fang",
                      'refund customer:"Li Wei"', "broken has:attachment"],
    "filter only": ["channel:sms", "tag:refund", "status:open", "agent:alice", "team:billing",
                    "after:2026-11-01", 'customer:"Wang Fang"', "sentiment:negative"],
    "combination": ['refund "credit card" -chargeback (channel:sms OR channel:email) after:2026-01-01',
                    '退款 customer:"李伟" (status:open OR status:resolved)',
                    "delivery OR 快递 team:delivery -status:resolved after:2026-06-01",
                    '(退款 OR refund) tag:refund sentiment:negative before:2026-07-01'],
    "empty + filters": ["", "channel:webchat status:open", "team:escalations after:2026-10-01", "is:note"],
    "order number": [],  # filled from the index: order numbers its messages hold
}


def _order_numbers(backend: SearchBackend) -> list[str]:
    """Two order numbers the index holds (written as customers do: with and without the #)."""
    found = backend.search(BackendQuery(query=q.Text("order"), visibility=SUPERVISOR, sort="newest", limit=200,
                                        highlight=False))
    numbers = list(dict.fromkeys(re.findall(r"#\d{8}", " ".join(h.fields.get("text", "") for h in found.hits))))
    return [numbers[0], numbers[-1][1:]] if numbers else ["#12345678"]


def _sort_for(node: q.Node) -> Sort:
    """search/service.py: relevance, unless there is no free text to rank by."""
    return "relevance" if q.has_free_text(node) else "newest"


def conversations_page(backend: SearchBackend, text: str, vis: Visibility) -> tuple[BackendResult, BackendResult]:
    """The backend requests of a first page of conversations (search/service.py _conversations_page): the
    facets counted by conversation and the conversations counted, then the first batch of highlighted
    messages to group."""
    node = q.parse(text, UTC_TZ)
    sort = _sort_for(node)
    first = backend.search(BackendQuery(query=node, visibility=vis, sort=sort, limit=1, highlight=False,
                                        facets=FACETS, facets_by_conversation=True, count_conversations=True))
    hits = backend.search(BackendQuery(query=node, visibility=vis, sort=sort, limit=STREAM_BATCH))
    return first, hits


def messages_page(backend: SearchBackend, text: str, vis: Visibility, after: tuple[Any, ...] | None = None,
                  offset: int = 0, sort: Sort | None = None) -> BackendResult:
    """The one backend request of a page of messages (search/service.py _messages_page)."""
    node = q.parse(text, UTC_TZ)
    return backend.search(BackendQuery(query=node, visibility=vis, sort=sort or _sort_for(node), limit=PAGE_SIZE,
                                       offset=offset, after=after, facets=FACETS))


def _pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def _row(label: str, ms: Sequence[float]) -> str:
    return (f"{label:<40} n={len(ms):<5} p50 {_pct(ms, 50):7.1f}  p95 {_pct(ms, 95):7.1f}  "
            f"p99 {_pct(ms, 99):7.1f}  max {max(ms):7.1f} ms")


def run_queries(kind: str, root: Path, repetitions: int) -> dict[str, Any]:
    repetitions = max(1, repetitions)  # percentiles need at least one measured pass
    backend = make_backend(kind, root)
    count = backend.count()
    print(f"\n# Query latency ({kind}, {count:,} documents), {_load()}; warm: one warm-up pass, then {repetitions} "
          f"passes of {sum(len(v) for v in QUERY_MIX.values()) + 2} queries x 2 pages x 2 roles", flush=True)
    pages: dict[str, Callable[[str, Visibility], Any]] = {
        "conversations": lambda text, vis: conversations_page(backend, text, vis),
        "messages": lambda text, vis: messages_page(backend, text, vis),
    }
    roles = {"supervisor": SUPERVISOR, "agent": AGENT}
    # The size of each query's answer (supervisor), to read the latencies against.
    mix = {**QUERY_MIX, "order number": _order_numbers(backend)}
    matches = {text: messages_page(backend, text, SUPERVISOR).total for texts in mix.values() for text in texts}
    samples: dict[tuple[str, str, str], list[float]] = {}
    per_query: dict[str, list[float]] = {}
    for rep in range(repetitions + 1):  # pass 0 warms the caches (the OS's and the engine's) and is not counted
        for cls, texts in mix.items():
            for text in texts:
                for page, run in pages.items():
                    for role, vis in roles.items():
                        t0 = time.perf_counter()
                        run(text, vis)
                        ms = (time.perf_counter() - t0) * 1000
                        if rep:
                            samples.setdefault((cls, page, role), []).append(ms)
                            per_query.setdefault(text, []).append(ms)
    every = [ms for v in samples.values() for ms in v]
    print("by class (both pages, both roles):")
    for cls, texts in mix.items():
        in_class = [x for (c, _p, _r), v in samples.items() if c == cls for x in v]
        sizes = sorted(matches[t] for t in texts)
        print(_row(f"  {cls} ({sizes[0]:,}-{sizes[-1]:,} hits)", in_class))
    print("by page and role:")
    for page in pages:
        for role in roles:
            print(_row(f"  {page} page, {role}", [x for (_c, p, r), v in samples.items() if p == page and r == role
                                                  for x in v]))
    print(_row("overall", every))
    slowest = sorted(per_query.items(), key=lambda kv: -statistics.median(kv[1]))[:6]
    print("slowest queries (median of both pages and roles): " + "; ".join(
        f"{text or '(empty)'!r} {statistics.median(v):.0f} ms ({matches[text]:,} hits)" for text, v in slowest))

    deep = run_deep_pages(backend, repetitions)
    backend.close()
    return {"count": count, "overall": every, "samples": samples, "deep": deep}


def run_deep_pages(backend: SearchBackend, repetitions: int) -> dict[str, list[float]]:
    """Page 1 against page 50 of a date-sorted message list continued with `after` (search_after / the sort
    key range), and for comparison relevance page 50 by offset."""
    print("deep pages (messages, 20 per page, supervisor, with facets as the service asks):")
    out: dict[str, list[float]] = {}
    for text in ("refund", "退款", "channel:sms", ""):
        node = q.parse(text, UTC_TZ)
        # The sort key of the last message of page 49: where page 50 continues.
        lead = backend.search(BackendQuery(query=node, visibility=SUPERVISOR, sort="newest", limit=49 * PAGE_SIZE,
                                           highlight=False))
        if len(lead.hits) < 49 * PAGE_SIZE:
            continue
        after = lead.hits[-1].sort_key
        timings: dict[str, list[float]] = {"page 1": [], "page 50 (after)": []}
        if q.has_free_text(node):
            timings["relevance page 50 (offset)"] = []
        for rep in range(repetitions + 1):
            for label in timings:
                t0 = time.perf_counter()
                if label == "page 1":
                    messages_page(backend, text, SUPERVISOR, sort="newest")
                elif label == "page 50 (after)":
                    messages_page(backend, text, SUPERVISOR, after=after, sort="newest")
                else:
                    messages_page(backend, text, SUPERVISOR, offset=49 * PAGE_SIZE, sort="relevance")
                if rep:
                    timings[label].append((time.perf_counter() - t0) * 1000)
        for label, ms in timings.items():
            out[f"{text or '(empty)'} {label}"] = ms
        print(f"  {text or '(empty)'!r:<14} newest page 1 {statistics.median(timings['page 1']):6.1f} ms, "
              f"page 50 via after {statistics.median(timings['page 50 (after)']):6.1f} ms" +
              (f", relevance page 50 via offset {statistics.median(timings['relevance page 50 (offset)']):6.1f} ms"
               if "relevance page 50 (offset)" in timings else "") + f" (medians; {lead.total:,} hits)")
    return out


# --- 3. Commit-to-searchable ----------------------------------------------------------------------------

def _hub_env(db_url: str, data_dir: str, kind: str) -> dict[str, str]:
    env = {**os.environ, "HUB_DATABASE_URL": db_url, "HUB_REDIS_URL": "", "HUB_DATA_DIR": data_dir,
           "HUB_SECRET_KEY": SECRET, "HUB_TASK_MODE": "inprocess", "HUB_LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "hub.settings", "PYTHONPATH": str(ROOT)}
    if kind == "elasticsearch":
        env["HUB_SEARCH_INDEX"] = ES_INDEX   # the index the `index` part built: pre-filled
    else:
        env["HUB_ELASTICSEARCH_URL"] = ""
    return env


def child_latency(rate: float, seconds: float, timeout: float) -> None:
    """In a hub process: ingest at `rate` messages/s for `seconds`, and measure for each message the time
    from the return of do_ingest_message (its transaction committed, the indexer kicked) to the first search
    that finds its unique token."""
    import django

    django.setup()
    from django.core.management import call_command

    from connectors.base import InboundMessage, Sender
    from hub.actions.ingestion import do_ingest_message
    from hub.channel_accounts import ensure_default_accounts
    from search.backend import get_backend

    call_command("migrate", verbosity=0)
    accounts = ensure_default_accounts()
    backend = get_backend()
    backend.ensure_index()
    prefilled = backend.count()
    rng = random.Random(SEED + 2)
    salt = "".join(rng.choice("bcdfghjkmnpqrstvwxz") for _ in range(4))
    channels = [c for c in ("sms", "email", "webchat") if c in accounts] or list(accounts)
    texts = [d.text for b in generate(2000, SEED + 3, 2000) for d in b]

    def send(i: int) -> tuple[str, str]:
        token = f"tok{salt}{i:06d}"
        channel = channels[i % len(channels)]
        kind = "email" if channel == "email" else "webchat" if channel == "webchat" else "phone"
        address = f"bench{i % 300}@example.com" if kind == "email" else f"visitor-{i % 300}" \
            if kind == "webchat" else f"+1415555{i % 300:04d}"
        result = do_ingest_message(accounts[channel], InboundMessage(
            f"search-bench-{salt}-{i}", Sender(kind, address), text=f"{texts[i % len(texts)]} ref {token}"))
        return f"m{result.message.pk}", token

    def poll(outstanding: dict[str, tuple[str, float]], found: dict[str, float]) -> None:
        """One search for every token not found yet (OR of them): the index answers for all at once."""
        if not outstanding:
            return
        node = q.Or(tuple(q.Text(token) for token, _ in outstanding.values())) if len(outstanding) > 1 \
            else q.Text(next(iter(outstanding.values()))[0])
        result = backend.search(BackendQuery(query=node, visibility=SUPERVISOR, sort="newest",
                                             limit=len(outstanding) + 5, highlight=False))
        now = time.perf_counter()
        for hit in result.hits:
            if hit.id in outstanding:
                found[hit.id] = now - outstanding.pop(hit.id)[1]

    # Warm-up, not counted: the first indexer run opens the writer and the first searches load the index.
    outstanding: dict[str, tuple[str, float]] = {}
    warm: dict[str, float] = {}
    for i in range(5):
        doc_id, token = send(1_000_000 + i)
        outstanding[doc_id] = (token, time.perf_counter())
    deadline = time.perf_counter() + timeout
    while outstanding and time.perf_counter() < deadline:
        poll(outstanding, warm)
        time.sleep(0.02)

    found: dict[str, float] = {}
    outstanding = {}
    total = int(rate * seconds)
    start = time.perf_counter() + 0.5
    late = 0
    for i in range(total):
        due = start + i / rate
        while (wait := due - time.perf_counter()) > 0:
            poll(outstanding, found)
            time.sleep(min(0.02, max(0.0, due - time.perf_counter())))
        if wait < -0.05:
            late += 1
        doc_id, token = send(i)
        outstanding[doc_id] = (token, time.perf_counter())
    deadline = time.perf_counter() + timeout
    while outstanding and time.perf_counter() < deadline:
        poll(outstanding, found)
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    print(json.dumps({"prefilled": prefilled, "sent": total, "found": len(found), "missing": len(outstanding),
                      "late": late, "seconds": elapsed, "latencies": sorted(found.values()),
                      "documents": backend.count()}))


def prepare_data_dir(kind: str, source: Path | None, prefill: int) -> tuple[str, str]:
    """A HUB_DATA_DIR whose search index is pre-filled: a copy of `source` (an embedded index folder) when
    there is one, else `prefill` generated documents bulk-loaded. Returns the folder and what it holds."""
    data_dir = Path(tempfile.mkdtemp(prefix="hub-bench-search-"))
    if kind == "elasticsearch":
        return str(data_dir), f"the Elasticsearch index {ES_INDEX} as the index part left it"
    target = data_dir / "search"
    if source is not None and (source / "CURRENT").exists():
        shutil.copytree(source, target)
        from search.embedded import EmbeddedBackend

        copied = EmbeddedBackend(target)
        count = copied.count()
        copied.close()
        return str(data_dir), f"a copy of the index in {source} ({count:,} documents)"
    from search.embedded import EmbeddedBackend

    backend = EmbeddedBackend(target)
    backend.ensure_index()
    rebuild = backend.begin_rebuild()
    for docs in generate(prefill, SEED, 5000):
        rebuild.index(docs)
    rebuild.finish()
    backend.close()
    return str(data_dir), f"{prefill:,} generated documents bulk-loaded"


def run_latency(kind: str, source: Path | None, prefill: int, rate: float, seconds: float,
                timeout: float) -> list[dict[str, Any]]:
    databases: list[tuple[str, str]] = [("SQLite", "")]
    try:
        _recreate_pg()
        databases.append(("PostgreSQL", PG_BENCH))
    except Exception as exc:  # no server here: SQLite alone
        print(f"(PostgreSQL not reachable, skipped: {exc})")
    rows = []
    for label, db_url in databases:
        data_dir, prefilled = prepare_data_dir(kind, source, prefill)
        url = db_url or f"sqlite:///{data_dir}/hub.sqlite3"
        print(f"\n# Commit-to-searchable ({kind}, {label}): {rate:g} messages/s for {seconds:g} s through "
              f"do_ingest_message, in-process indexer; index pre-filled with {prefilled}; {_load()}", flush=True)
        proc = subprocess.run([sys.executable, __file__, "_latency", str(rate), str(seconds), str(timeout)],
                              env=_hub_env(url, data_dir, kind), text=True, capture_output=True)
        if proc.returncode:
            raise SystemExit(f"latency run failed:\n{proc.stderr[-4000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        ms = [x * 1000 for x in r["latencies"]]
        row = {"label": label, "prefilled": prefilled, **{k: v for k, v in r.items() if k != "latencies"}}
        if ms:
            row.update(p50=_pct(ms, 50), p95=_pct(ms, 95), max=max(ms))
            print(f"{r['found']}/{r['sent']} found ({r['missing']} never within {timeout:g} s), sends late by "
                  f"> 50 ms: {r['late']}: p50 {row['p50']:.0f} ms, p95 {row['p95']:.0f} ms, max {row['max']:.0f} ms "
                  f"(index {r['documents']:,} documents at the end)", flush=True)
        rows.append(row)
        if kind == "embedded":
            shutil.rmtree(data_dir, ignore_errors=True)
    return rows


# --- main -----------------------------------------------------------------------------------------------

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_latency":
        child_latency(float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="documents to generate and index")
    parser.add_argument("--backend", choices=["embedded", "elasticsearch"], default="embedded")
    parser.add_argument("--only", choices=["index", "query", "latency"])
    parser.add_argument("--dir", type=Path, help="embedded index folder: kept after the run; with --only query or "
                        "latency, an index built before is reused")
    parser.add_argument("--queries", type=int, default=5, help="measured passes over the query mix")
    parser.add_argument("--batch", type=int, default=5000, help="documents per index() call of the bulk load")
    parser.add_argument("--live-n", type=int, default=100_000, help="documents written through the live path")
    parser.add_argument("--live-batch", type=int, default=500, help="documents per live index() call")
    parser.add_argument("--rate", type=float, default=20, help="latency part: messages/s ingested")
    parser.add_argument("--seconds", type=float, default=30, help="latency part: seconds of ingestion")
    parser.add_argument("--prefill", type=int, default=100_000,
                        help="latency part: documents to pre-fill the index with when there is no index to copy")
    parser.add_argument("--timeout", type=float, default=30, help="latency part: seconds to wait for a message")
    args = parser.parse_args()
    if args.backend == "elasticsearch" and not os.environ.get("HUB_ELASTICSEARCH_URL"):
        raise SystemExit("--backend elasticsearch needs HUB_ELASTICSEARCH_URL (e.g. http://127.0.0.1:9200)")
    try:
        run(args)
    except BackendUnavailable as exc:
        raise SystemExit(f"the {args.backend} search backend is unavailable: {exc}") from exc


def run(args: argparse.Namespace) -> None:
    root = args.dir or Path(tempfile.mkdtemp(prefix="hub-bench-index-"))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; index in {root}",
          flush=True)
    try:
        if args.only in (None, "index"):
            if args.backend == "embedded" and root.exists() and any(root.iterdir()):
                shutil.rmtree(root)  # a clean build: the size on disk is this index's alone
            run_index(args.backend, root, args.n, args.batch, args.live_n, args.live_batch)
        if args.only in (None, "query"):
            run_queries(args.backend, root, args.queries)
        if args.only in (None, "latency"):
            built = root if (root / "CURRENT").exists() else None
            run_latency(args.backend, built, args.prefill, args.rate, args.seconds, args.timeout)
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end", flush=True)
    finally:
        if args.dir is None:  # a temporary folder: only --dir keeps an index for a later run
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
