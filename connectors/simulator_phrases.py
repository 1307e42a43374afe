"""What the simulated customers write: short social-media messages per language and topic.

Written apart from the labelled test set (``tests/data/messages.jsonl``) and from the
phrase rules, so the stream's enrichment meets text it was not tuned on; the share it
gets right on these is in docs/enrichment.md. ``other`` holds greetings, thanks and
small talk; :data:`FOLLOW_UPS` are what a waiting customer writes next.
"""

from __future__ import annotations

from typing import Final

Sentences = dict[str, dict[str, tuple[str, ...]]]  # lang -> topic -> sentences

MESSAGES: Final[Sentences] = {
    "en": {
        "network_quality": (
            "signal is gone again in my neighbourhood",
            "no internet at home since last night, anyone else?",
            "my calls drop every time I walk into the office",
            "mobile data is crawling, pages won't load",
            "whole street has no service, is something broken?",
            "5G is worse than 3G today",
            "the network keeps cutting out during video calls",
        ),
        "billing": (
            "why is there a 15 dollar charge on my account?",
            "I paid my bill last week and it still says overdue",
            "my balance disappeared overnight",
            "charged for roaming while I was at home",
            "please refund the double payment",
            "the invoice doesn't match my contract",
        ),
        "products_promotions": (
            "do you have a prepaid plan with more data?",
            "is the summer promo available for existing customers?",
            "how much is the unlimited package?",
            "I want to add a second line to my family plan",
            "any deals on the new Samsung?",
            "what's the best offer for travelling to Europe?",
        ),
        "customer_care": (
            "been waiting 3 hours for someone to answer my DM",
            "your agents keep transferring me around",
            "no reply to my email for two days",
            "the support team fixed my problem in 5 minutes, amazing",
            "can a real person please look at my ticket?",
            "I called the hotline four times today",
        ),
        "other": (
            "thanks!",
            "hello",
            "ok thanks",
            "good evening",
            "cool",
            "have a nice weekend",
        ),
    },
    "ru": {
        "network_quality": (
            "второй день нет связи в Бутово",
            "интернет еле работает, видео не грузится",
            "связь постоянно обрывается во время разговора",
            "в деревне вообще не ловит сеть",
            "у всех соседей пропал мобильный интернет",
            "сигнал очень слабый даже на улице",
        ),
        "billing": (
            "с меня сняли 500 рублей непонятно за что",
            "почему такой большой счёт за август?",
            "пополнила баланс через приложение, деньги не зачислены",
            "верните плату за услугу, которую я не заказывал",
            "списали абонентскую плату два раза",
            "после оплаты всё равно пишет, что есть долг",
        ),
        "products_promotions": (
            "какой тариф посоветуете для планшета?",
            "акция с бесплатными гигабайтами ещё действует?",
            "хочу подключить безлимит на соцсети",
            "есть ли скидки для студентов?",
            "расскажите про новые тарифы",
            "как перейти на семейный пакет?",
        ),
        "customer_care": (
            "третий час жду ответа в чате",
            "оператор не смог помочь и отключился",
            "служба поддержки игнорирует мои сообщения",
            "спасибо сотруднику за быструю помощь",
            "позовите живого человека, бот бесполезен",
            "ответьте в личные сообщения, пожалуйста",
        ),
        "other": ("спасибо", "привет!", "хорошо", "добрый вечер", "ясно, спасибо", "с новым годом"),
    },
    "vi": {
        "network_quality": (
            "mạng yếu quá không xem được video",
            "cả xóm mất sóng từ tối qua",
            "đang gọi thì bị rớt cuộc gọi liên tục",
            "vào mạng chậm như rùa",
            "sóng 4G chập chờn cả ngày hôm nay",
            "không có tín hiệu trong thang máy",
        ),
        "billing": (
            "tự nhiên tài khoản bị trừ 20 nghìn",
            "hóa đơn tháng 8 sai rồi",
            "nạp tiền mà không thấy cộng vào tài khoản",
            "muốn hoàn tiền vì bị trừ cước oan",
            "sao cước phí tháng này cao thế",
            "thanh toán xong vẫn báo nợ cước",
        ),
        "products_promotions": (
            "có gói data nào rẻ cho học sinh không?",
            "khuyến mãi nạp thẻ tuần này bao nhiêu phần trăm?",
            "muốn đăng ký gói cước gọi nội mạng",
            "ưu đãi cho thuê bao trả sau là gì?",
            "chương trình tặng quà còn không ạ?",
            "gói 5G mới giá bao nhiêu vậy?",
        ),
        "customer_care": (
            "nhắn tin cho page 3 tiếng chưa ai trả lời",
            "tổng đài viên không giải quyết được gì",
            "gửi khiếu nại mà chưa được phản hồi",
            "cảm ơn nhân viên đã hỗ trợ rất nhanh",
            "cho mình gặp nhân viên tư vấn với",
            "thái độ nhân viên cửa hàng không tốt",
        ),
        "other": (
            "cảm ơn nhiều",
            "xin chào",
            "dạ vâng",
            "ok",
            "chúc buổi tối vui vẻ",
            "được rồi ạ",
        ),
    },
    "zh": {
        "network_quality": (
            "家里信号一格都没有",
            "晚上网速特别慢，视频卡死了",
            "电话打着打着就断了",
            "整个小区都断网了",
            "在电梯里完全没信号",
            "4G网络一直不稳定",
        ),
        "billing": (
            "这个月话费怎么多扣了三十元",
            "账单上有一笔不明收费",
            "充了一百块余额没到账",
            "要求退还错扣的信息费",
            "我没订这个业务为什么扣费",
            "已经交费了还显示欠费",
        ),
        "products_promotions": (
            "有没有流量多一点的套餐",
            "最近有什么优惠活动吗",
            "老用户可以办理新套餐吗",
            "5G套餐多少钱一个月",
            "积分怎么兑换流量",
            "合约机现在有什么优惠",
        ),
        "customer_care": (
            "在线客服半天不回复",
            "打了好几次热线都没人接",
            "投诉一周了没人处理",
            "感谢营业厅的工作人员耐心解答",
            "转人工客服太难了",
            "客服说会回电话，结果没有",
        ),
        "other": ("谢谢", "您好", "好的，谢谢", "晚上好", "明白了", "周末快乐"),
    },
    "ar": {
        "network_quality": (
            "الشبكة ضعيفة جدا في البيت",
            "النت مقطوع من الصباح",
            "المكالمة تفصل كل شوي",
            "لا توجد إشارة في المصعد",
            "الانترنت بطيء ولا يفتح أي موقع",
            "هل هناك عطل؟ لا يوجد تغطية في المنطقة كلها",
        ),
        "billing": (
            "تم خصم مبلغ من رصيدي بدون سبب",
            "فاتورة هذا الشهر غير صحيحة",
            "شحنت رصيد ولم يضاف",
            "أريد استرداد المبلغ المدفوع مرتين",
            "لماذا ارتفعت رسوم الاشتراك الشهري؟",
            "دفعت ولا زال الحساب يظهر مستحقات",
        ),
        "products_promotions": (
            "ما هي أفضل باقة بيانات لديكم؟",
            "هل العرض متاح للمشتركين الحاليين؟",
            "أريد الاشتراك في باقة الفايف جي",
            "هل يوجد عروض على الهواتف الجديدة؟",
            "كم سعر الباقة الشهرية غير المحدودة؟",
            "عرض رمضان ما زال متاحا؟",
        ),
        "customer_care": (
            "انتظرت ثلاث ساعات ولم يرد أحد",
            "موظف الدعم لم يساعدني",
            "أرسلت شكوى من أسبوع ولا رد",
            "شكرا للموظف على حسن التعامل",
            "أريد التحدث مع ممثل خدمة العملاء",
            "الرجاء الرد على رسالتي الخاصة",
        ),
        "other": ("شكرا جزيلا", "أهلا", "تمام شكرا", "مساء الخير", "حسنا", "عيد مبارك"),
    },
    "et": {
        "network_quality": (
            "kodus pole üldse levi",
            "mobiilne internet on täna väga kehv",
            "kõne katkeb iga paari minuti järel",
            "kogu külas pole võrku",
            "kas võrgus on rike? midagi ei lae",
            "5G levi on nõrk ka kesklinnas",
        ),
        "billing": (
            "miks mu arvel on kaks kuutasu?",
            "mult võeti raha teenuse eest, mida ma ei kasuta",
            "maksin arve, aga süsteem näitab võlga",
            "palun tagastage topelt makstud summa",
            "selle kuu arve on kummaline",
            "rändluse tasud on liiga suured",
        ),
        "products_promotions": (
            "kas on mõni soodsam pakett?",
            "millised on uued pakkumised?",
            "kas kampaania kehtib ka vanadele klientidele?",
            "tahan liituda piiramatu internetiga",
            "kui palju maksab uus telefon järelmaksuga?",
            "kas perepakett on saadaval?",
        ),
        "customer_care": (
            "ootan juba kolm tundi vastust",
            "klienditeenindaja ei osanud aidata",
            "saatsin kaebuse nädal tagasi, vastust pole",
            "suur aitäh teenindajale kiire abi eest",
            "palun vastake mu privaatsõnumile",
            "infotelefon ei vasta üldse",
        ),
        "other": ("aitäh", "tere!", "selge, aitäh", "head õhtut", "olgu", "häid pühi"),
    },
}
"""Customer messages by language and topic; the labels are what a reader would choose."""

FOLLOW_UPS: Final[dict[str, tuple[str, ...]]] = {
    "en": ("hello??", "still waiting", "any update?", "anyone there?"),
    "ru": ("алло?", "всё ещё жду", "есть новости?", "ответьте уже"),
    "vi": ("alo?", "vẫn đang chờ", "có ai không?", "sao chưa trả lời"),
    "zh": ("在吗？", "还在等", "有进展吗", "怎么还没回复"),
    "ar": ("هل من أحد؟", "ما زلت أنتظر", "أي جديد؟", "ردوا علي"),
    "et": ("halloo?", "ootan ikka", "on uudiseid?", "kas keegi on seal?"),
}
"""A waiting customer's next message: short, and usually about nothing but the wait."""
