"""Chinese-speaking customers of the demo (中文支持): a public complaint on the Weibo-style account that
moves to private messages, an invoice by email from a customer whose name needs GBK rather than GB2312
(堃), an SMS waiting in the queue, a resolved chat, and a public compliment."""

# Chinese text is written with full-width punctuation, which RUF001 takes for look-alikes of ASCII.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from connectors.base import Sender
from hub.demo.script import Cast, Story
from hub.models import Conversation

# The company post the public comments answer. Kept as metadata, not as a thread key: comments of different
# customers under one post are different conversations.
ON_POST = {"post_id": "4988123456"}


def wang_fang_complains_in_public(cast: Cast) -> None:
    """A public comment (is_public), answered in public, then continued in private messages: one
    conversation, escalated because a complaint in public is urgent."""
    s = Story(cast, timedelta(hours=5))
    fang = Sender("social", "1802393212", "王芳Fang")
    s.writes(0, "social", fang, "@hub_support 下单一周了还没发货，客服电话也一直打不通，太失望了！",
             pid="weibo-comment-4988130001", is_public=True, language="zh", metadata=ON_POST)
    s.profile("sofia", value_tier="vip", language="zh", tags=["微博", "投诉"],
              notes="老客户，年消费 2 万元以上。微博粉丝较多，公开投诉需优先处理。")
    s.assigns(3, "wei", team="中文支持", by="sofia")
    s.escalates("sofia", Conversation.Priority.HIGH)
    s.replies(9, "wei", "@王芳Fang 您好，非常抱歉让您久等了！已私信您，请提供订单号，我们马上为您处理。")
    s.writes(21, "social", fang, "订单号是 20240611-8842，收货地址在杭州。", pid="weibo-dm-7730001", language="zh")
    s.replies(30, "wei", "王女士您好，查到您的订单因仓库缺货延迟，今天已安排顺丰加急发出，单号 SF1402938475，"
              "预计后天送达。为表歉意，已为您的账户添加 50 元优惠券。")
    s.writes(34, "social", fang, "收到，谢谢！", pid="weibo-dm-7730002", language="zh")
    s.notes(36, "wei", "客户在微博公开投诉，已私信安抚并补偿 50 元券。后天回访确认收货（售后回访）。")
    s.tags("wei", "发货延迟", "投诉")


def ouyang_kun_fixes_an_invoice_by_email(cast: Cast) -> None:
    s = Story(cast, timedelta(days=3, hours=4))
    first = "<20240612093011.GB2312@mail.example.cn>"
    s.writes(0, "email", Sender("email", "kun.ouyang@example.cn", "欧阳堃"),
             "您好：\n\n我上个月订单的发票抬头写错了，应为“杭州堃达科技有限公司”，税号 91330106MA2H3K7X5Q，"
             "麻烦重新开具，谢谢。\n\n欧阳堃", pid=first, subject="关于发票抬头的修改", language="zh",
             metadata={"charset": "gbk"})
    s.assigns(15, "wei", team="中文支持")
    s.replies(42, "wei", "欧阳先生您好：\n\n已为您重新开具电子发票并发送至本邮箱，请查收。如有其他问题随时联系我们。"
              "\n\n王伟")
    s.writes(95, "email", Sender("email", "kun.ouyang@example.cn", "欧阳堃"), "收到了，谢谢！",
             pid="<20240612103544.GB2312@mail.example.cn>", thread_keys=[first], language="zh",
             metadata={"charset": "gbk"})
    s.tags("wei", "发票")
    s.resolves(100, "wei")


def chen_jing_waits_for_an_agent(cast: Cast) -> None:
    """An SMS in the Chinese queue that nobody has taken yet."""
    s = Story(cast, timedelta(minutes=20))
    s.writes(0, "sms", Sender("phone", "+86 138 0013 8000", "陈静"), "你好，我的会员积分怎么突然清零了？",
             pid="SMdemo0101chen", language="zh")
    s.assigns(0, None, team="中文支持")


def liu_yang_asks_about_returns(cast: Cast) -> None:
    s = Story(cast, timedelta(days=3, hours=1))
    visitor = Sender("webchat", "wv-5d2e7710", "刘洋")
    s.writes(0, "webchat", visitor, "请问你们的退货政策是什么？收到的鞋子尺码不合适。", pid="wc-demo-liu-1",
             language="zh")
    s.assigns(1, "wei", team="中文支持")
    s.replies(2, "wei", "您好！商品签收后 7 天内可无理由退货，鞋子未穿着、吊牌完好即可。请在“我的订单”中申请退货，"
              "我们会安排快递上门取件。")
    s.writes(4, "webchat", visitor, "好的，明白了，谢谢！", pid="wc-demo-liu-2", language="zh")
    s.resolves(6, "wei")


def a_fan_says_thank_you_in_public(cast: Cast) -> None:
    s = Story(cast, timedelta(days=1, hours=7))
    s.writes(0, "social", Sender("social", "2210987345", "小鹿爱喝茶"),
             "@hub_support 昨天客服小王处理得又快又耐心，点赞👍", pid="weibo-comment-4988139902", is_public=True,
             language="zh", metadata=ON_POST)
    s.assigns(20, "wei", team="中文支持")
    s.replies(25, "wei", "@小鹿爱喝茶 谢谢您的认可！我们会继续努力 😊")
    s.tags("wei", "表扬")
    s.resolves(26, "wei")


STORIES: tuple[Callable[[Cast], None], ...] = (
    wang_fang_complains_in_public,
    ouyang_kun_fixes_an_invoice_by_email,
    chen_jing_waits_for_an_agent,
    liu_yang_asks_about_returns,
    a_fan_says_thank_you_in_public,
)
